package io.jvmm.tests.driver.fs;

/**
 * struct virtio_fs_config as the guest read it (one consistent generation).
 *
 * @param tag              the file system's tag, the NUL padding removed
 * @param numRequestQueues request queues the device offers (at least 1 for a usable device)
 * @param notifyBufSize    notify_buf_size, or 0 when the configuration space ends before it
 */
public record FsConfig(String tag, int numRequestQueues, int notifyBufSize) {
}
