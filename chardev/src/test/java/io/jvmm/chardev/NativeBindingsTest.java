package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jvmm.chardev.nativ.Epoll;
import io.jvmm.chardev.nativ.LinuxConstants;
import io.jvmm.chardev.nativ.Native;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The raw bindings behave like their C counterparts (argument passing, errno, struct layouts). */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class NativeBindingsTest {
    /** _IOR('T', 0x30, unsigned int): a request >= 0x80000000, which must travel as an unsigned long. */
    private static final long TIOCGPTN = 0x80045430L;
    private static final long KVM_GET_API_VERSION = 0xAE00L;
    private static final long KVM_CHECK_EXTENSION = 0xAE03L;
    private static final long KVM_CAP_IRQFD = 32;

    @Test
    void ioctlWithPointerReadsAnInt() {
        UnixSocketChannel[] pair = UnixSocketChannel.pair();
        try (UnixSocketChannel a = pair[0]; UnixSocketChannel b = pair[1]) {
            a.send(ByteBuffer.wrap(new byte[123]));
            Pointer count = Memory.allocateDirect(Native.runtime(), 4);
            Native.check(Native.libc().ioctl(b.fd(), LinuxConstants.FIONREAD, count), "ioctl(FIONREAD)");
            assertEquals(123, count.getInt(0));
        }
    }

    @Test
    void ioctlWithHighBitRequestCode() {
        assumeTrue(Files.exists(Path.of("/dev/ptmx")), "needs /dev/ptmx");
        int fd = Native.check(Native.libc().open("/dev/ptmx", LinuxConstants.O_RDWR | LinuxConstants.O_NOCTTY
                | LinuxConstants.O_CLOEXEC, 0), "open(/dev/ptmx)");
        try {
            Pointer ptn = Memory.allocateDirect(Native.runtime(), 4);
            ptn.putInt(0, -1);
            Native.check(Native.libc().ioctl(fd, TIOCGPTN, ptn), "ioctl(TIOCGPTN)");
            int n = ptn.getInt(0);
            assertTrue(n >= 0, "pty number " + n);
            assertTrue(Files.exists(Path.of("/dev/pts/" + n)), "/dev/pts/" + n + " exists");
        } finally {
            Fds.close(fd);
        }
    }

    @Test
    void ioctlWithLongArgument() {
        assumeTrue(Files.isReadable(Path.of("/dev/kvm")) && Files.isWritable(Path.of("/dev/kvm")), "needs /dev/kvm");
        int kvm = Native.check(Native.libc().open("/dev/kvm", LinuxConstants.O_RDWR | LinuxConstants.O_CLOEXEC, 0),
                "open(/dev/kvm)");
        try {
            assertEquals(12, Native.libc().ioctl(kvm, KVM_GET_API_VERSION, 0L));
            assertTrue(Native.libc().ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQFD) > 0, "KVM_CAP_IRQFD");
            assertEquals(0, Native.libc().ioctl(kvm, KVM_CHECK_EXTENSION, 0x7fff_0000L), "unknown capability");
        } finally {
            Fds.close(kvm);
        }
    }

    @Test
    void failedIoctlReportsErrno() {
        try (EventFd e = EventFd.create()) {
            NativeException ex = assertThrows(NativeException.class,
                    () -> Native.check(Native.libc().ioctl(e.fd(), TIOCGPTN, Memory.allocateDirect(Native.runtime(), 4)),
                            "ioctl(eventfd, TIOCGPTN)"));
            assertEquals("ENOTTY", ex.errnoName());
        }
    }

    /** An fd number the kernel never hands out (above any RLIMIT_NOFILE), unlike a just-closed one. */
    private static final int NEVER_OPEN = Integer.MAX_VALUE;

    @Test
    void fdHelpers() {
        try (EventFd e = EventFd.create()) {
            OpenFiles.Identity eventfd = OpenFiles.identity(e.fd());
            int dup = Fds.dup(e.fd());
            assertNotEquals(e.fd(), dup);
            assertEquals("anon_inode:[eventfd]", Fds.describe(dup));
            assertTrue(Fds.isOpen(dup));
            int fdFlags = Native.libc().fcntl(dup, LinuxConstants.F_GETFD, 0);
            assertEquals(LinuxConstants.FD_CLOEXEC, fdFlags & LinuxConstants.FD_CLOEXEC, "dup is close-on-exec");
            Fds.close(dup);
            OpenFiles.assertOnlyOpenAs(eventfd, "Fds.close closed the duplicate", e.fd());
            // A closed number may be reused by any thread at once: what is not open is shown on one that never is.
            assertFalse(Fds.isOpen(NEVER_OPEN));
            NativeException notOpen = assertThrows(NativeException.class, () -> Fds.close(NEVER_OPEN));
            assertEquals("EBADF", notOpen.errnoName());
            assertThrows(NativeException.class, () -> Fds.dup(NEVER_OPEN));
        }
    }

    @Test
    void epollReportsReadyFdWithItsKey() {
        int epfd = Epoll.create();
        try (EventFd e = EventFd.create()) {
            Epoll.add(epfd, e.fd(), LinuxConstants.EPOLLIN, 0x1234_5678_9ABCL, "test eventfd");
            Epoll.Events events = new Epoll.Events(4);
            assertEquals(0, Epoll.await(epfd, events, 0), "nothing ready yet");
            e.signal();
            assertEquals(1, Epoll.await(epfd, events, 1000));
            assertEquals(0x1234_5678_9ABCL, events.key(0), "the 64-bit key survives the packed struct");
            assertEquals(LinuxConstants.EPOLLIN, events.events(0) & LinuxConstants.EPOLLIN);
            NativeException dup = assertThrows(NativeException.class,
                    () -> Epoll.add(epfd, e.fd(), LinuxConstants.EPOLLIN, 1, "test eventfd again"));
            assertEquals("EEXIST", dup.errnoName());
            assertTrue(dup.getMessage().contains("test eventfd again"), dup.getMessage());
            assertTrue(Epoll.delete(epfd, e.fd(), "test eventfd"));
            assertTrue(!Epoll.delete(epfd, e.fd(), "test eventfd"), "second delete reports absence");
        } finally {
            Fds.close(epfd);
        }
    }
}
