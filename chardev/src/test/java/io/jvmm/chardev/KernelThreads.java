package io.jvmm.chardev;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.LongPredicate;

/**
 * A thread of this JVM as the kernel sees it, so a test can wait until another thread is really
 * blocked in a system call (a receive, an accept, KVM_RUN) before it does what should wake that
 * thread, instead of sleeping and hoping the thread got there.
 */
public final class KernelThreads {
    /** x86-64 system call numbers. */
    public static final int SYS_READ = 0;
    public static final int SYS_IOCTL = 16;
    public static final int SYS_RECVMSG = 47;
    public static final int SYS_ACCEPT4 = 288;

    private KernelThreads() {
    }

    /** The kernel's id of the calling thread (what /proc/self/task lists). */
    public static int currentTid() {
        try {
            // "/proc/thread-self" -> "<pid>/task/<tid>"
            Path self = Files.readSymbolicLink(Path.of("/proc/thread-self"));
            return Integer.parseInt(self.getFileName().toString());
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/thread-self", e);
        }
    }

    /**
     * Waits until thread tid is asleep (state S or D) inside system call {@code syscall} with a
     * second argument (an ioctl's request, say) that satisfies {@code secondArg}. A thread that is
     * merely preempted shows state R, so "asleep in the call" means it got as far as waiting.
     */
    public static void awaitBlockedIn(int tid, int syscall, LongPredicate secondArg, String what) {
        Await.until(() -> isBlockedIn(tid, syscall, secondArg), Await.HANG_GUARD,
                () -> "thread " + tid + " to block in " + what + " (it is " + describe(tid) + ")");
    }

    /** Waits until thread tid is asleep inside system call {@code syscall}, whatever its arguments. */
    public static void awaitBlockedIn(int tid, int syscall, String what) {
        awaitBlockedIn(tid, syscall, arg -> true, what);
    }

    /** Whether thread tid is asleep inside system call {@code syscall} with a second argument that satisfies secondArg. */
    public static boolean isBlockedIn(int tid, int syscall, LongPredicate secondArg) {
        String[] call = read(tid, "syscall").trim().split(" ");
        // "running" while on a CPU; otherwise "<nr> <arg1> ... <arg6> <sp> <pc>" (hex args).
        if (call.length < 3 || !call[0].equals(Integer.toString(syscall))) {
            return false;
        }
        char state = state(tid);
        return (state == 'S' || state == 'D') && secondArg.test(Long.parseUnsignedLong(call[2].substring(2), 16));
    }

    private static char state(int tid) {
        String stat = read(tid, "stat");
        int close = stat.lastIndexOf(')');   // the thread name may contain spaces and parentheses
        return close < 0 || close + 2 >= stat.length() ? '?' : stat.charAt(close + 2);
    }

    private static String describe(int tid) {
        return "state " + state(tid) + ", syscall " + read(tid, "syscall").trim();
    }

    private static String read(int tid, String file) {
        try {
            return Files.readString(Path.of("/proc/self/task", Integer.toString(tid), file));
        } catch (IOException e) {
            return "gone";
        }
    }
}
