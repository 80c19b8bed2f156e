package io.jvmm.chardev;

import io.jvmm.chardev.nativ.LibC;
import io.jvmm.chardev.nativ.LinuxConstants;
import io.jvmm.chardev.nativ.Native;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells an {@link EventContext} when a process that is not our child exits, through a pidfd
 * (pidfd_open, Linux 5.3): the fd becomes readable when the process has ended, with no polling and
 * no race with pid reuse once it is open. Used for a peer known by its socket's SO_PEERCRED.
 */
public final class ProcessExitWatch implements Registration {
    private static final Logger log = LoggerFactory.getLogger(ProcessExitWatch.class);
    private static final LibC LIBC = Native.libc();
    private static final int ESRCH = 3;

    private final String what;
    private final AtomicBoolean done = new AtomicBoolean();
    private final int pidfd;
    private volatile Registration readable;

    private ProcessExitWatch(String what, int pidfd) {
        this.what = what;
        this.pidfd = pidfd;
    }

    /**
     * Calls {@code onExit} once on {@code context} when process {@code pid} has exited (at once if
     * it is gone already).
     *
     * @return the watch (cancel it to stop watching and release the pidfd), or null if this kernel
     *     cannot watch the process (no pidfd_open, not permitted, or pid not positive)
     */
    public static ProcessExitWatch watch(EventContext context, long pid, String what, Runnable onExit) {
        if (pid <= 0) {
            return null;
        }
        long fd = LIBC.syscall(LinuxConstants.SYS_PIDFD_OPEN, pid, 0);
        if (fd < 0) {
            int errno = Native.errno();
            if (errno == ESRCH) {
                ProcessExitWatch gone = new ProcessExitWatch(what, -1);
                context.execute(what, () -> {
                    if (gone.done.compareAndSet(false, true)) {
                        onExit.run();
                    }
                });
                return gone;
            }
            log.debug("cannot watch process {} for {}: pidfd_open failed with errno {}", pid, what, errno);
            return null;
        }
        ProcessExitWatch w = new ProcessExitWatch(what, (int) fd);
        synchronized (w) {   // the callback (on the context) waits until the registration is known
            try {
                w.readable = context.addReadable((int) fd, what, () -> {
                    if (w.done.compareAndSet(false, true)) {
                        w.release();
                        onExit.run();
                    }
                });
            } catch (RuntimeException e) {
                LIBC.close((int) fd);
                throw e;
            }
        }
        return w;
    }

    private synchronized void release() {
        Registration r = readable;
        if (r != null) {
            r.cancel();   // before the fd goes: a live registration must not outlive its fd
        }
        if (pidfd >= 0) {
            LIBC.close(pidfd);
        }
    }

    @Override
    public String what() {
        return what;
    }

    @Override
    public void cancel() {
        if (done.compareAndSet(false, true)) {
            release();
        }
    }

    @Override
    public boolean isCancelled() {
        return done.get();
    }
}
