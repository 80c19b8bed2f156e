package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.Fds;
import io.jvmm.chardev.KernelThreads;
import io.jvmm.chardev.NativeException;
import io.jvmm.chardev.nativ.LinuxConstants;
import io.jvmm.chardev.nativ.Native;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import jnr.constants.platform.Errno;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The kick signal, without KVM: it interrupts a thread blocked in a system call (as KVM_RUN is),
 * the process survives it (the no-op handler is installed), and errors name the call.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class VcpuKickerTest {

    @Test
    void kickInterruptsABlockingSystemCallWithEintr() throws Exception {
        VcpuKicker kicker = VcpuKicker.get();
        int[] pair = new int[2];
        Native.check(Native.libc().socketpair(LinuxConstants.AF_UNIX, LinuxConstants.SOCK_STREAM, 0, pair), "socketpair");
        try {
            CompletableFuture<Integer> tid = new CompletableFuture<>();
            CompletableFuture<Integer> errno = new CompletableFuture<>();
            Thread blocked = new Thread(() -> {
                kicker.unblockInCurrentThread();
                tid.complete(VcpuKicker.currentTid());
                java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocateDirect(16);
                long address = com.kenai.jffi.MemoryIO.getInstance().getDirectBufferAddress(buf);
                long n = Native.libc().read(pair[0], address, 16);   // nobody writes: blocks until kicked
                errno.complete(n < 0 ? Native.errno() : 0);
            }, "blocked-reader");
            blocked.setDaemon(true);
            blocked.start();
            int t = tid.get(10, TimeUnit.SECONDS);
            // One kick, once the thread sleeps in read(): a kick that lands earlier would prove nothing.
            KernelThreads.awaitBlockedIn(t, KernelThreads.SYS_READ, "read() of a socket nobody writes to");
            kicker.kick(t);
            assertEquals(Errno.EINTR.intValue(), errno.get(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS),
                    "one kick interrupts the read: the handler is installed without SA_RESTART");
            blocked.join(10_000);
        } finally {
            Fds.closeQuietly(pair[0], pair[1]);
        }
    }

    @Test
    void kickingTheCallingThreadRunsTheNoOpHandler() {
        VcpuKicker kicker = VcpuKicker.get();
        kicker.unblockInCurrentThread();
        kicker.kick(VcpuKicker.currentTid());   // with the default action this would kill the JVM
        assertTrue(kicker.signal() >= 32, "a real-time signal, not one the JVM uses");
    }

    @Test
    void kickingAThreadThatDoesNotExistNamesTheCallAndErrno() {
        NativeException e = assertThrows(NativeException.class, () -> VcpuKicker.get().kick(Integer.MAX_VALUE));
        assertEquals("ESRCH", e.errnoName());
        assertTrue(e.getMessage().startsWith("tgkill("), e.getMessage());
    }
}
