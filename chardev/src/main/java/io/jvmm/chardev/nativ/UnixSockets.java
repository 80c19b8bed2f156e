package io.jvmm.chardev.nativ;

import static io.jvmm.chardev.nativ.LinuxConstants.AF_UNIX;
import static io.jvmm.chardev.nativ.LinuxConstants.MSG_CMSG_CLOEXEC;
import static io.jvmm.chardev.nativ.LinuxConstants.MSG_CTRUNC;
import static io.jvmm.chardev.nativ.LinuxConstants.MSG_NOSIGNAL;
import static io.jvmm.chardev.nativ.LinuxConstants.SCM_RIGHTS;
import static io.jvmm.chardev.nativ.LinuxConstants.SOCK_CLOEXEC;
import static io.jvmm.chardev.nativ.LinuxConstants.SOCK_NONBLOCK;
import static io.jvmm.chardev.nativ.LinuxConstants.SOCK_STREAM;
import static io.jvmm.chardev.nativ.LinuxConstants.SOL_SOCKET;

import io.jvmm.chardev.NativeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import jnr.constants.platform.Errno;

/**
 * AF_UNIX stream sockets at the C level: sockaddr_un, msghdr/iovec and SCM_RIGHTS control
 * messages are laid out here (x86-64 LP64) so that one sendmsg/recvmsg carries bytes and fds
 * together, as vhost-user and ivshmem require. Failures throw {@link NativeException}; EINTR is
 * retried. Higher-level semantics (positions, timeouts, closing) live in UnixSocketChannel.
 */
public final class UnixSockets {
    private static final LibC LIBC = Native.libc();
    private static final int EINTR = Errno.EINTR.intValue();

    /** sun_path is 108 bytes including the terminating NUL. */
    public static final int MAX_PATH_BYTES = 107;

    // struct msghdr (56 bytes), struct iovec (16), struct cmsghdr (16 + data)
    private static final int MSG_NAME = 0;
    private static final int MSG_IOV = 16;
    private static final int MSG_IOVLEN = 24;
    private static final int MSG_CONTROL = 32;
    private static final int MSG_CONTROLLEN = 40;
    private static final int MSG_FLAGS = 48;
    private static final int MSGHDR_SIZE = 56;
    private static final int IOV_OFFSET = 64;
    private static final int CONTROL_OFFSET = 128;
    private static final int CMSG_HEADER = 16;

    private UnixSockets() {
    }

    /** What one recvmsg delivered: byte count (0 = end of stream), fds, and msg_flags. */
    public record Received(long bytes, int[] fds, int flags) {
        public boolean controlTruncated() {
            return (flags & MSG_CTRUNC) != 0;
        }
    }

    /** socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC [| SOCK_NONBLOCK]). */
    public static int socket(boolean nonBlocking) {
        int type = SOCK_STREAM | SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0);
        return Native.check(LIBC.socket(AF_UNIX, type, 0),
                "socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC" + (nonBlocking ? "|SOCK_NONBLOCK" : "") + ")");
    }

    /** socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC): two connected fds. */
    public static int[] socketPair() {
        int[] sv = new int[2];
        Native.check(LIBC.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC)");
        return sv;
    }

    public static void bind(int fd, Path path) {
        ScratchMemory s = ScratchMemory.get();
        int len = writeSockaddr(s, 0, path);
        Native.check(LIBC.bind(fd, s.address, len), "bind(fd " + fd + ", " + path + ")");
    }

    public static void listen(int fd, int backlog) {
        Native.check(LIBC.listen(fd, backlog), "listen(fd " + fd + ", " + backlog + ")");
    }

    /** accept4(SOCK_CLOEXEC), retrying EINTR; the new fd is blocking. */
    public static int accept(int fd) {
        while (true) {
            int rc = LIBC.accept4(fd, 0, 0, SOCK_CLOEXEC);
            if (rc >= 0) {
                return rc;
            }
            int errno = Native.errno();
            if (errno != EINTR) {
                throw new NativeException("accept4(fd " + fd + ", SOCK_CLOEXEC)", errno);
            }
        }
    }

    public static void connect(int fd, Path path) {
        ScratchMemory s = ScratchMemory.get();
        int len = writeSockaddr(s, 0, path);
        Native.check(LIBC.connect(fd, s.address, len), "connect(fd " + fd + ", " + path + ")");
    }

    public static void shutdown(int fd, int how) {
        Native.check(LIBC.shutdown(fd, how), "shutdown(fd " + fd + ", " + how + ")");
    }

    /**
     * shutdown(SHUT_RDWR) on a close path, to wake threads blocked in recvmsg/accept on fd.
     * Returns the failure instead of throwing (so the caller still releases the fd), or null;
     * ENOTCONN, a peer that already went, is not a failure.
     */
    public static NativeException shutdownForClose(int fd) {
        if (LIBC.shutdown(fd, LinuxConstants.SHUT_RDWR) == 0) {
            return null;
        }
        int errno = Native.errno();
        return errno == Errno.ENOTCONN.intValue() ? null : new NativeException("shutdown(fd " + fd + ", SHUT_RDWR)", errno);
    }

    /** SO_RCVTIMEO (zero = wait forever); a receive that times out fails with EAGAIN. */
    public static void setReceiveTimeout(int fd, Duration timeout) {
        setTimeout(fd, LinuxConstants.SO_RCVTIMEO, "SO_RCVTIMEO", timeout);
    }

    /** SO_SNDTIMEO (zero = wait forever); a send that cannot go on in time fails with EAGAIN. */
    public static void setSendTimeout(int fd, Duration timeout) {
        setTimeout(fd, LinuxConstants.SO_SNDTIMEO, "SO_SNDTIMEO", timeout);
    }

    /** The pid of the peer when it connected (SO_PEERCRED), 0 if it is not visible in our pid namespace. */
    public static int peerPid(int fd) {
        ScratchMemory s = ScratchMemory.get();
        s.buffer.putInt(64, 12);   // socklen_t: sizeof(struct ucred {pid_t pid; uid_t uid; gid_t gid;})
        Native.check(LIBC.getsockopt(fd, SOL_SOCKET, LinuxConstants.SO_PEERCRED, s.address, s.address + 64),
                "getsockopt(fd " + fd + ", SO_PEERCRED)");
        return s.buffer.getInt(0);
    }

    private static void setTimeout(int fd, int option, String name, Duration timeout) {
        ScratchMemory s = ScratchMemory.get();
        s.buffer.putLong(0, timeout.getSeconds());
        s.buffer.putLong(8, timeout.getNano() / 1000);
        Native.check(LIBC.setsockopt(fd, SOL_SOCKET, option, s.address, 16),
                "setsockopt(fd " + fd + ", " + name + ", " + timeout.toMillis() + " ms)");
    }

    /**
     * One sendmsg of [dataAddress, dataAddress + length) with fds (may be empty) as SCM_RIGHTS,
     * MSG_NOSIGNAL (a closed peer is EPIPE, not a signal). Returns the bytes the kernel took.
     */
    public static long sendmsg(int fd, long dataAddress, long length, int[] fds) {
        if (fds.length > LinuxConstants.SCM_MAX_FD) {
            throw new IllegalArgumentException("sendmsg(fd " + fd + "): " + fds.length + " fds exceed SCM_MAX_FD");
        }
        ScratchMemory s = ScratchMemory.get();
        int controlLen = fds.length == 0 ? 0 : controlSpace(fds.length);
        if (CONTROL_OFFSET + controlLen > ScratchMemory.SIZE) {
            throw new IllegalArgumentException("sendmsg(fd " + fd + "): too many fds (" + fds.length + ")");
        }
        writeMsghdr(s, dataAddress, length, controlLen);
        if (fds.length > 0) {
            s.buffer.putLong(CONTROL_OFFSET, CMSG_HEADER + 4L * fds.length); // cmsg_len = CMSG_LEN(n * 4)
            s.buffer.putInt(CONTROL_OFFSET + 8, SOL_SOCKET);
            s.buffer.putInt(CONTROL_OFFSET + 12, SCM_RIGHTS);
            for (int i = 0; i < fds.length; i++) {
                s.buffer.putInt(CONTROL_OFFSET + CMSG_HEADER + 4 * i, fds[i]);
            }
        }
        while (true) {
            long rc = LIBC.sendmsg(fd, s.address, MSG_NOSIGNAL);
            if (rc >= 0) {
                return rc;
            }
            int errno = Native.errno();
            if (errno != EINTR) {
                throw new NativeException("sendmsg(fd " + fd + ", " + length + " bytes, " + fds.length + " fds)", errno);
            }
        }
    }

    /**
     * One recvmsg into [dataAddress, dataAddress + length) with room for maxFds fds, with
     * MSG_CMSG_CLOEXEC. The caller must check {@link Received#controlTruncated()}.
     */
    public static Received recvmsg(int fd, long dataAddress, long length, int maxFds) {
        ScratchMemory s = ScratchMemory.get();
        int controlLen = maxFds == 0 ? 0 : controlSpace(maxFds);
        if (maxFds < 0 || CONTROL_OFFSET + controlLen > ScratchMemory.SIZE) {
            throw new IllegalArgumentException("recvmsg(fd " + fd + "): bad maxFds " + maxFds);
        }
        writeMsghdr(s, dataAddress, length, controlLen);
        s.zero(CONTROL_OFFSET, controlLen);
        long rc;
        while (true) {
            rc = LIBC.recvmsg(fd, s.address, MSG_CMSG_CLOEXEC);
            if (rc >= 0) {
                break;
            }
            int errno = Native.errno();
            if (errno != EINTR) {
                throw new NativeException("recvmsg(fd " + fd + ", " + length + " bytes, " + maxFds + " fds)", errno);
            }
        }
        int flags = s.buffer.getInt(MSG_FLAGS);
        return new Received(rc, parseFds(s, (int) s.buffer.getLong(MSG_CONTROLLEN)), flags);
    }

    /** CMSG_SPACE(n * sizeof(int)). */
    static int controlSpace(int fdCount) {
        return CMSG_HEADER + ((4 * fdCount + 7) & ~7);
    }

    private static void writeMsghdr(ScratchMemory s, long dataAddress, long length, int controlLen) {
        s.zero(0, MSGHDR_SIZE);
        s.buffer.putLong(IOV_OFFSET, dataAddress);
        s.buffer.putLong(IOV_OFFSET + 8, length);
        s.buffer.putLong(MSG_NAME, 0);
        s.buffer.putLong(MSG_IOV, s.address + IOV_OFFSET);
        s.buffer.putLong(MSG_IOVLEN, 1);
        s.buffer.putLong(MSG_CONTROL, controlLen == 0 ? 0 : s.address + CONTROL_OFFSET);
        s.buffer.putLong(MSG_CONTROLLEN, controlLen);
    }

    /** Walks the control messages the kernel wrote (CMSG_FIRSTHDR/CMSG_NXTHDR) and collects SCM_RIGHTS fds. */
    private static int[] parseFds(ScratchMemory s, int controlLen) {
        int[] fds = new int[0];
        int at = 0;
        while (at + CMSG_HEADER <= controlLen) {
            long cmsgLen = s.buffer.getLong(CONTROL_OFFSET + at);
            int level = s.buffer.getInt(CONTROL_OFFSET + at + 8);
            int type = s.buffer.getInt(CONTROL_OFFSET + at + 12);
            if (cmsgLen < CMSG_HEADER || at + cmsgLen > controlLen) {
                break;
            }
            if (level == SOL_SOCKET && type == SCM_RIGHTS) {
                int n = (int) ((cmsgLen - CMSG_HEADER) / 4);
                int[] more = new int[fds.length + n];
                System.arraycopy(fds, 0, more, 0, fds.length);
                for (int i = 0; i < n; i++) {
                    more[fds.length + i] = s.buffer.getInt(CONTROL_OFFSET + at + CMSG_HEADER + 4 * i);
                }
                fds = more;
            }
            at += (int) ((cmsgLen + 7) & ~7L);
        }
        return fds;
    }

    /** Writes a sockaddr_un for path at offset; returns its length. */
    private static int writeSockaddr(ScratchMemory s, int offset, Path path) {
        byte[] bytes = path.toString().getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length > MAX_PATH_BYTES) {
            throw new IllegalArgumentException("unix socket path " + path + " is " + bytes.length
                    + " bytes; it must be 1.." + MAX_PATH_BYTES);
        }
        for (byte b : bytes) {
            if (b == 0) {
                throw new IllegalArgumentException("unix socket path " + path + " contains a NUL byte");
            }
        }
        s.buffer.putShort(offset, (short) AF_UNIX);
        s.buffer.put(offset + 2, bytes);
        s.buffer.put(offset + 2 + bytes.length, (byte) 0);
        return 2 + bytes.length + 1;
    }
}
