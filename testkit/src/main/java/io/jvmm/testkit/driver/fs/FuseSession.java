package io.jvmm.testkit.driver.fs;

/**
 * What INIT settled, as the client will use it.
 *
 * @param minor          the protocol minor both sides speak (the lower of the two)
 * @param flags          capability flags both sides agreed on
 * @param maxReadahead   the server's answer (never more than asked)
 * @param maxWrite       the largest WRITE payload (at least 4096, as Linux takes it)
 * @param maxPages       pages per request: the server's max_pages with FUSE_MAX_PAGES, else 32
 * @param initialization the device initialisation the session belongs to (a reset ends it)
 */
public record FuseSession(int major, int minor, long flags, int maxReadahead, int maxWrite, int maxPages, int timeGran,
                          int maxBackground, long initialization) {
    public static final int PAGE = 4096;

    /** The largest READ (or WRITE) one request may carry: max_pages pages. */
    public int maxRequestBytes() {
        return maxPages * PAGE;
    }

    public boolean has(long flag) {
        return (flags & flag) == flag;
    }

    @Override
    public String toString() {
        return String.format("FUSE %d.%d, flags %s, max_write %d, max_pages %d, max_readahead %d",
                major, minor, FuseInitFlags.describe(flags), maxWrite, maxPages, maxReadahead);
    }
}
