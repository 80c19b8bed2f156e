package io.jvmm.emulator.kvm;

import static io.jvmm.chardev.nativ.LinuxConstants.MAP_ANONYMOUS;
import static io.jvmm.chardev.nativ.LinuxConstants.MAP_FAILED;
import static io.jvmm.chardev.nativ.LinuxConstants.MAP_PRIVATE;
import static io.jvmm.chardev.nativ.LinuxConstants.PROT_READ;
import static io.jvmm.chardev.nativ.LinuxConstants.PROT_WRITE;

import com.kenai.jffi.MemoryIO;
import io.jvmm.chardev.NativeException;
import io.jvmm.chardev.nativ.Native;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kicks a vCPU thread out of KVM_RUN with a signal, the way QEMU and Cloud Hypervisor do: a
 * pending signal makes KVM_RUN return EINTR even when the guest is halted inside the kernel
 * (e.g. {@code cli; hlt}, which nothing else wakes).
 *
 * <p>The signal (SIGRTMIN, unused by the JVM) needs a handler that does nothing: with the default
 * action it would kill the process, and an ignored signal is discarded before it can interrupt
 * anything. Java code cannot run in a signal handler, so the handler is one x86 instruction,
 * {@code ret}, written to an executable page of its own; glibc's sigaction adds the restorer.
 * It is installed once per process, without SA_RESTART (KVM_RUN must not be restarted).
 */
final class VcpuKicker {
    private static final Logger log = LoggerFactory.getLogger(VcpuKicker.class);
    private static final KvmSyscalls SYS = KvmSyscalls.LIBC;
    private static final byte X86_RET = (byte) 0xC3;

    private static volatile VcpuKicker instance;

    private final int signal;
    private final int pid;

    private VcpuKicker(int signal) {
        this.signal = signal;
        this.pid = SYS.getpid();
    }

    /** The process-wide kicker, installing the no-op handler on first use. */
    static VcpuKicker get() {
        VcpuKicker k = instance;
        if (k == null) {
            synchronized (VcpuKicker.class) {
                k = instance;
                if (k == null) {
                    k = new VcpuKicker(SYS.__libc_current_sigrtmin());
                    k.installHandler();
                    instance = k;
                }
            }
        }
        return k;
    }

    /** The signal number used for kicks. */
    int signal() {
        return signal;
    }

    /** The calling thread's kernel thread id. */
    static int currentTid() {
        return SYS.gettid();
    }

    /** Unblocks the kick signal in the calling thread, in case its creator had blocked it. */
    void unblockInCurrentThread() {
        NativeStruct set = new NativeStruct(KvmSyscalls.SIGSET_SIZE);
        setBit(set, signal);
        int rc = SYS.pthread_sigmask(KvmSyscalls.SIG_UNBLOCK, set.address(), 0L);
        set.keepAlive();
        if (rc != 0) {   // pthread_* functions return the error number instead of setting errno
            throw new NativeException("pthread_sigmask(SIG_UNBLOCK, {" + signal + "})", rc);
        }
    }

    /** Sends the kick to thread tid of this process. */
    void kick(int tid) {
        if (SYS.tgkill(pid, tid, signal) < 0) {
            throw Native.error("tgkill(" + pid + ", " + tid + ", " + signal + ")");
        }
    }

    private void installHandler() {
        NativeStruct old = new NativeStruct(KvmSyscalls.SIGACTION_SIZE);
        Native.check(SYS.sigaction(signal, 0L, old.address()), "sigaction(" + signal + ", NULL, &old)");
        long previous = old.buffer().getLong(0);
        if (previous > 1) {   // neither SIG_DFL (0) nor SIG_IGN (1): somebody else owns this signal
            throw new IllegalStateException("cannot use signal " + signal + " (SIGRTMIN) to kick vCPUs: a handler"
                    + " at 0x" + Long.toHexString(previous) + " is already installed for it");
        }
        long handler = noOpHandler();
        NativeStruct action = new NativeStruct(KvmSyscalls.SIGACTION_SIZE);
        action.buffer().putLong(0, handler);   // sa_handler; sa_mask empty; sa_flags 0 (no SA_RESTART)
        Native.check(SYS.sigaction(signal, action.address(), 0L), "sigaction(" + signal + ", {ret stub}, NULL)");
        action.keepAlive();
        old.keepAlive();
        log.debug("vCPU kick signal {} handled by a no-op stub at 0x{}", signal, Long.toHexString(handler));
    }

    /** A page holding the single instruction {@code ret}, read+execute only; never unmapped. */
    private static long noOpHandler() {
        long page = Native.pageSize();
        long address = Native.libc().mmap(null, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (address == MAP_FAILED) {
            throw Native.error("mmap(NULL, " + page + ", PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS)");
        }
        MemoryIO.getInstance().putByte(address, X86_RET);
        Native.check(SYS.mprotect(address, page, PROT_READ | KvmSyscalls.PROT_EXEC),
                "mprotect(0x" + Long.toHexString(address) + ", " + page + ", PROT_READ|PROT_EXEC)");
        return address;
    }

    private static void setBit(NativeStruct sigset, int sig) {
        int bit = sig - 1;
        int index = bit / 8;
        sigset.buffer().put(index, (byte) (sigset.buffer().get(index) | (1 << (bit % 8))));
    }
}
