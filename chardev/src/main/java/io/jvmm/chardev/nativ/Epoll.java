package io.jvmm.chardev.nativ;

import static io.jvmm.chardev.nativ.LinuxConstants.EPOLL_CLOEXEC;
import static io.jvmm.chardev.nativ.LinuxConstants.EPOLL_CTL_ADD;
import static io.jvmm.chardev.nativ.LinuxConstants.EPOLL_CTL_DEL;
import static io.jvmm.chardev.nativ.LinuxConstants.EPOLL_CTL_MOD;

import com.kenai.jffi.MemoryIO;
import io.jvmm.chardev.NativeException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jnr.constants.platform.Errno;

/**
 * epoll at the C level. struct epoll_event is packed on x86-64: u32 events @0, u64 data @4,
 * 12 bytes. The data word carries a caller-chosen 64-bit key.
 */
public final class Epoll {
    private static final LibC LIBC = Native.libc();
    private static final int EVENT_SIZE = 12;
    private static final int EINTR = Errno.EINTR.intValue();

    private Epoll() {
    }

    /** A buffer epoll_wait fills; not thread-safe (one per waiting loop frame). */
    public static final class Events {
        private final ByteBuffer buffer;
        private final long address;
        private final int capacity;

        public Events(int capacity) {
            this.capacity = capacity;
            this.buffer = ByteBuffer.allocateDirect(capacity * EVENT_SIZE).order(ByteOrder.nativeOrder());
            this.address = MemoryIO.getInstance().getDirectBufferAddress(buffer);
        }

        public int events(int i) {
            return buffer.getInt(i * EVENT_SIZE);
        }

        public long key(int i) {
            return buffer.getLong(i * EVENT_SIZE + 4);
        }
    }

    public static int create() {
        return Native.check(LIBC.epoll_create1(EPOLL_CLOEXEC), "epoll_create1(EPOLL_CLOEXEC)");
    }

    public static void add(int epfd, int fd, int events, long key, String what) {
        ctl(epfd, EPOLL_CTL_ADD, fd, events, key, "EPOLL_CTL_ADD", what);
    }

    public static void modify(int epfd, int fd, int events, long key, String what) {
        ctl(epfd, EPOLL_CTL_MOD, fd, events, key, "EPOLL_CTL_MOD", what);
    }

    /**
     * Removes fd; returns false if it was no longer there (already closed by its owner, which
     * removes it from epoll implicitly), which is not an error for a cancel.
     */
    public static boolean delete(int epfd, int fd, String what) {
        ScratchMemory s = ScratchMemory.get();
        if (LIBC.epoll_ctl(epfd, EPOLL_CTL_DEL, fd, s.address) == 0) {
            return true;
        }
        int errno = Native.errno();
        if (errno == Errno.ENOENT.intValue() || errno == Errno.EBADF.intValue()) {
            return false;
        }
        throw new NativeException("epoll_ctl(epfd " + epfd + ", EPOLL_CTL_DEL, fd " + fd + " for " + what + ")", errno);
    }

    /** epoll_wait; returns the number of ready events (0 on timeout or EINTR). */
    public static int await(int epfd, Events events, int timeoutMs) {
        int n = LIBC.epoll_wait(epfd, events.address, events.capacity, timeoutMs);
        if (n >= 0) {
            return n;
        }
        int errno = Native.errno();
        if (errno == EINTR) {
            return 0;
        }
        throw new NativeException("epoll_wait(epfd " + epfd + ")", errno);
    }

    private static void ctl(int epfd, int op, int fd, int events, long key, String opName, String what) {
        ScratchMemory s = ScratchMemory.get();
        s.buffer.putInt(0, events);
        s.buffer.putLong(4, key);
        Native.check(LIBC.epoll_ctl(epfd, op, fd, s.address),
                "epoll_ctl(epfd " + epfd + ", " + opName + ", fd " + fd + " for " + what + ")");
    }
}
