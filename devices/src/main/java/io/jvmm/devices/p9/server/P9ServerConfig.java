package io.jvmm.devices.p9.server;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * What a 9P server serves and its limits.
 *
 * @param root      the exported directory
 * @param readOnly  refuse every change (EROFS)
 * @param security  how ownership is kept
 * @param flush     exact (rule 4) or historic (experiments)
 * @param maxMsize  the largest msize negotiated (Linux's virtio transport allows 512000)
 * @param maxFids   fids one connection may hold (the next attach or walk gets EMFILE)
 * @param maxTags   requests one connection may have in flight (the next gets EAGAIN)
 * @param threads   worker threads for file operations, shared by all connections
 * @param delay     every Tread, Twrite and Treaddir waits this long before it starts (0 normally; tests
 *                  slow the server so that flushes land while data requests are in flight); a waiting
 *                  request has not started, so a Tflush cancels it
 */
public record P9ServerConfig(Path root, boolean readOnly, SecurityModel security, FlushMode flush, int maxMsize,
                             int maxFids, int maxTags, int threads, Duration delay) {
    public static final int DEFAULT_MSIZE = 512000;
    public static final int DEFAULT_MAX_FIDS = 16384;
    public static final int DEFAULT_MAX_TAGS = 1024;
    public static final int DEFAULT_THREADS = 4;

    public P9ServerConfig {
        Objects.requireNonNull(root, "root");
        Objects.requireNonNull(security, "security");
        Objects.requireNonNull(flush, "flush");
        Objects.requireNonNull(delay, "delay");
        if (maxMsize < P9.MIN_MSIZE || maxMsize > 16 << 20) {
            throw new IllegalArgumentException("msize " + maxMsize + " is not from " + P9.MIN_MSIZE + " to 16 MiB");
        }
        if (maxFids < 1 || maxTags < 1 || threads < 1) {
            throw new IllegalArgumentException("limits must be positive: fids " + maxFids + ", tags " + maxTags + ", threads " + threads);
        }
    }

    public static P9ServerConfig of(Path root, boolean readOnly, SecurityModel security) {
        return new P9ServerConfig(root, readOnly, security, FlushMode.EXACT, DEFAULT_MSIZE, DEFAULT_MAX_FIDS,
                DEFAULT_MAX_TAGS, DEFAULT_THREADS, Duration.ZERO);
    }

    public P9ServerConfig withFlush(FlushMode mode) {
        return new P9ServerConfig(root, readOnly, security, mode, maxMsize, maxFids, maxTags, threads, delay);
    }

    public P9ServerConfig withDelay(Duration d) {
        return new P9ServerConfig(root, readOnly, security, flush, maxMsize, maxFids, maxTags, threads, d);
    }

    public P9ServerConfig withLimits(int fids, int tags) {
        return new P9ServerConfig(root, readOnly, security, flush, maxMsize, fids, tags, threads, delay);
    }

    public P9ServerConfig withThreads(int n) {
        return new P9ServerConfig(root, readOnly, security, flush, maxMsize, maxFids, maxTags, n, delay);
    }
}
