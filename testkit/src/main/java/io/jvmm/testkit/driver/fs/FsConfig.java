package io.jvmm.testkit.driver.fs;

import java.nio.charset.StandardCharsets;

/**
 * struct virtio_fs_config as the guest read it (one consistent generation).
 *
 * @param tag              the file system's tag, the NUL padding removed
 * @param numRequestQueues request queues the device offers (at least 1 for a usable device)
 * @param notifyBufSize    notify_buf_size, or 0 when the configuration space ends before it
 */
public record FsConfig(String tag, int numRequestQueues, int notifyBufSize) {
    /** The tag field: UTF-8 up to the first NUL, or all of it when there is none (a 36-byte tag). */
    public static String decodeTag(byte[] tag) {
        int n = 0;
        while (n < tag.length && tag[n] != 0) {
            n++;
        }
        return new String(tag, 0, n, StandardCharsets.UTF_8);
    }
}
