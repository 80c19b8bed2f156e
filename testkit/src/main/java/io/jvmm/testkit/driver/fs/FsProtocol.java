package io.jvmm.testkit.driver.fs;

/**
 * virtio-fs device constants (virtio 1.2, 5.11), guest side: device type, feature bits, the
 * layout of struct virtio_fs_config, and the queue numbering. Written out again on purpose: the
 * guest driver knows the specification, not the device model.
 */
public final class FsProtocol {
    public static final int DEVICE_TYPE = 26;

    /** VIRTIO_FS_F_NOTIFICATION: a notification queue sits at index 1. This driver does not use it. */
    public static final long F_NOTIFICATION = 1L;

    /** u8 tag[36]: the file system's name, UTF-8, NUL-padded (not NUL-terminated when all 36 bytes are used). */
    static final int CFG_TAG = 0;
    public static final int TAG_BYTES = 36;
    /** le32 num_request_queues. */
    static final int CFG_NUM_REQUEST_QUEUES = 36;
    /** le32 notify_buf_size (only meaningful with F_NOTIFICATION). */
    static final int CFG_NOTIFY_BUF_SIZE = 40;
    /** A device without F_NOTIFICATION may end its configuration before notify_buf_size. */
    static final int CFG_BYTES_WITHOUT_NOTIFY = 40;

    /** Queue 0 is the high-priority queue (FORGET, INTERRUPT); request queues follow it. */
    public static final int HIPRIO_QUEUE = 0;
    /** Without the notification queue, request queue i is virtqueue i + 1. */
    public static final int FIRST_REQUEST_QUEUE = 1;

    private FsProtocol() {
    }
}
