package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.nativ.LinuxConstants;
import io.jvmm.chardev.nativ.Native;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class EventFdTest {

    @Test
    void counterAccumulatesSignalsAndConsumeResetsIt() {
        try (EventFd e = EventFd.create()) {
            assertEquals(0, e.consume(), "fresh eventfd has nothing pending");
            e.signal();
            e.signal();
            e.signal();
            assertEquals(3, e.consume());
            assertEquals(0, e.consume(), "consume must reset the counter");
            e.signal(40);
            e.signal(2);
            assertEquals(42, e.consume());
        }
    }

    @Test
    void createdFdIsNonBlockingAndCloseOnExec() {
        try (EventFd e = EventFd.create()) {
            int fl = Native.libc().fcntl(e.fd(), LinuxConstants.F_GETFL, 0);
            int fdFlags = Native.libc().fcntl(e.fd(), LinuxConstants.F_GETFD, 0);
            assertTrue((fl & LinuxConstants.O_NONBLOCK) != 0);
            assertTrue((fdFlags & LinuxConstants.FD_CLOEXEC) != 0);
        }
    }

    @Test
    void adoptedFdSeesTheOriginalsSignals() {
        try (EventFd original = EventFd.create()) {
            OpenFiles.Identity eventfd = OpenFiles.identity(original.fd());
            int dup = Fds.dup(original.fd());
            try (EventFd adopted = EventFd.adopt(dup)) {
                original.signal(5);
                assertEquals(5, adopted.consume());
                adopted.signal();
                assertEquals(1, original.consume());
            }
            // adopt took ownership: closing it closed the duplicate (whatever now has its number).
            OpenFiles.assertOnlyOpenAs(eventfd, "the adopted duplicate is closed", original.fd());
        }
    }

    @Test
    void adoptMakesABlockingEventFdNonBlocking() {
        int fd = Native.check(Native.libc().eventfd(0, LinuxConstants.EFD_CLOEXEC), "eventfd");
        try (EventFd adopted = EventFd.adopt(fd)) {
            assertEquals(0, adopted.consume(), "consume on an adopted blocking eventfd must not block");
        }
    }

    @Test
    void adoptRejectsWhatIsNotAnEventFdAndClosesIt() {
        try (SharedMemory mem = SharedMemory.create("not-an-eventfd", 4096)) {
            OpenFiles.Identity memfd = OpenFiles.identity(mem.fd());
            int dup = Fds.dup(mem.fd());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EventFd.adopt(dup));
            assertTrue(e.getMessage().contains("fd " + dup) && e.getMessage().contains("not an eventfd"), e.getMessage());
            OpenFiles.assertOnlyOpenAs(memfd, "adopt takes ownership even when it fails", mem.fd());
        }
        assertThrows(IllegalArgumentException.class, () -> EventFd.adopt(-1));
    }

    @Test
    void rejectsNonPositiveSignal() {
        try (EventFd e = EventFd.create()) {
            assertThrows(IllegalArgumentException.class, () -> e.signal(0));
            assertThrows(IllegalArgumentException.class, () -> e.signal(-1));
            assertEquals(0, e.consume());
        }
    }

    @Test
    void overflowIsANativeExceptionNotAHang() {
        try (EventFd e = EventFd.create()) {
            e.signal(0xfffffffffffffffeL >>> 1);
            e.signal(0xfffffffffffffffeL >>> 1);
            NativeException ex = assertThrows(NativeException.class, () -> e.signal(1));
            assertEquals("EAGAIN", ex.errnoName());
            assertTrue(ex.getMessage().contains("eventfd_write(fd " + e.fd()), ex.getMessage());
        }
    }

    @Test
    void closeIsIdempotentAndClosedUseFails() {
        EventFd e = EventFd.create();
        int witness = Fds.dup(e.fd());   // keeps the eventfd (and so its identity) alive for the check
        OpenFiles.Identity eventfd = OpenFiles.identity(witness);
        assertFalse(e.isClosed());
        e.close();
        e.close();
        assertTrue(e.isClosed());
        assertThrows(IllegalStateException.class, e::signal);
        assertThrows(IllegalStateException.class, e::consume);
        assertThrows(IllegalStateException.class, e::fd);
        OpenFiles.assertOnlyOpenAs(eventfd, "the fd must really be closed", witness);
        Fds.close(witness);
    }

    /**
     * A signaller racing with close() (a doorbell to a peer that just left) either signals the
     * eventfd or learns it is closed: its write never lands on another file that reused the fd
     * number. Each round closes while a thread hammers trySignal, at once opens a new eventfd
     * (which usually gets the freed number) and checks nothing reached it.
     */
    @Test
    void aSignalRacingWithCloseNeverReachesAFileThatReusedTheNumber() throws Exception {
        for (int round = 0; round < 100; round++) {
            EventFd fd = EventFd.create();
            java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(1);
            Thread signaller = new Thread(() -> {
                started.countDown();
                while (fd.trySignal(1)) {
                    Thread.onSpinWait();
                }
            }, "signaller");
            signaller.start();
            started.await();
            fd.close();
            try (EventFd next = EventFd.create()) {
                signaller.join(10_000);
                assertFalse(signaller.isAlive(), "the signaller saw the close");
                assertEquals(0, next.consume(), "round " + round + ": a signal meant for the closed eventfd reached eventfd "
                        + next.fd() + ", which reused its number");
            }
        }
    }
}
