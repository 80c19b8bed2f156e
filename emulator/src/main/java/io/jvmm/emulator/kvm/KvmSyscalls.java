package io.jvmm.emulator.kvm;

import jnr.ffi.LibraryLoader;
import jnr.ffi.types.size_t;

/**
 * libc functions the KVM shim needs beyond chardev's bindings: signals to kick a vCPU thread out
 * of KVM_RUN, and mprotect for the tiny no-op signal handler. Raw C results (-1 and errno);
 * read {@link io.jvmm.chardev.nativ.Native#errno()} right after a failure.
 *
 * <p>No binding here has six parameters, so jnr-ffi bug #181 does not apply.
 */
public interface KvmSyscalls {
    KvmSyscalls LIBC = LibraryLoader.create(KvmSyscalls.class).load("c");

    int SIG_UNBLOCK = 1;
    int PROT_EXEC = 0x4;
    /** Size of glibc's sigset_t (1024 bits). */
    int SIGSET_SIZE = 128;
    /** Size of glibc's struct sigaction on x86-64: handler @0, mask @8, flags @136, restorer @144. */
    int SIGACTION_SIZE = 152;

    /** glibc's sigaction; it supplies the SA_RESTORER trampoline itself. Structs as raw addresses. */
    int sigaction(int signum, long newActionAddress, long oldActionAddress);

    int pthread_sigmask(int how, long setAddress, long oldSetAddress);

    int tgkill(int tgid, int tid, int sig);

    int gettid();

    int getpid();

    int mprotect(long address, @size_t long length, int prot);

    /** SIGRTMIN as glibc computes it at run time (it reserves the first real-time signals). */
    int __libc_current_sigrtmin();
}
