package io.jvmm.chardev;

/**
 * How long an {@link EventContext} busy-polls its pollers before it sleeps in epoll_wait, adapted
 * as QEMU adapts an iothread's polling window up to its {@code poll-max-ns} (util/aio-posix.c;
 * 32768 ns by default there). Waking a sleeping thread costs an interrupt to a CPU that may be
 * halted (22-25 us per round trip on an idle nested host, measured by
 * {@code scripts/host-wakeup-cost}), so when events come soon after the context starts waiting,
 * spinning for them is cheaper than sleeping.
 *
 * <ul>
 * <li>The window starts at 0 (no polling).
 * <li>An event that came within the window: the window is right, unchanged.
 * <li>A wait longer than {@code maxNs}: polling could not have caught it; the window drops to 0,
 *     so an idle context costs no CPU.
 * <li>A wait longer than the window but within {@code maxNs}: the window doubles (from
 *     {@link #FIRST_NS}), up to {@code maxNs}.
 * </ul>
 * Not thread-safe: owned by the context's thread; {@link #setMax} may come from any thread.
 */
public final class PollWindow {
    /** The first window after a short wait (QEMU's initial grow step). */
    static final long FIRST_NS = 4_000;

    private volatile long maxNs;
    private long windowNs;

    public PollWindow(long maxNs) {
        setMax(maxNs);
    }

    /** 0 turns polling off. */
    public void setMax(long maxNs) {
        if (maxNs < 0) {
            throw new IllegalArgumentException("poll-max-ns must be 0 or more, got " + maxNs);
        }
        this.maxNs = maxNs;
    }

    public long max() {
        return maxNs;
    }

    /** How long to poll before the next sleep, in nanoseconds (0: do not poll). */
    public long window() {
        long max = maxNs;
        if (windowNs > max) {
            windowNs = max;
        }
        return windowNs;
    }

    /**
     * After one wait: {@code waitedNs} from the start of the poll to the event that ended the wait
     * (found by polling or by epoll_wait).
     */
    public void waited(long waitedNs) {
        long max = maxNs;
        if (waitedNs <= windowNs) {
            return;   // polling caught it: the sweet spot
        }
        if (waitedNs > max) {
            windowNs = 0;
        } else if (windowNs < max) {
            windowNs = Math.min(max, windowNs == 0 ? FIRST_NS : windowNs * 2);
        }
    }
}
