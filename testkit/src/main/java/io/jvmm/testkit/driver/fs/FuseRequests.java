package io.jvmm.testkit.driver.fs;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Encoders of the requests this client sends: each builds the *_in argument struct (fuse.h
 * layouts, little-endian) and names what reply it expects. Names travel NUL-terminated.
 */
public final class FuseRequests {
    /** fuse_init_in, protocol 7.x: major, minor, max_readahead, flags, flags2, unused[11]. */
    static final int INIT_IN_BYTES = 64;
    static final int READ_IN_BYTES = 40;
    static final int WRITE_IN_BYTES = 40;
    static final int RELEASE_IN_BYTES = 24;
    static final int FLUSH_IN_BYTES = 24;
    static final int GETATTR_IN_BYTES = 16;
    static final int CREATE_IN_BYTES = 16;
    static final int OPEN_IN_BYTES = 8;
    static final int MKDIR_IN_BYTES = 8;
    static final int FORGET_IN_BYTES = 8;
    /** FUSE_GETATTR_FH: getattr_in.fh is valid. */
    public static final int GETATTR_FH = 1;

    private FuseRequests() {
    }

    private static ByteBuffer struct(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * A file name as FUSE carries it: UTF-8 and a NUL.
     *
     * @throws IllegalArgumentException for an empty name, or one with '/' or NUL, or longer than
     *     {@link FuseDirent#NAME_MAX} bytes
     */
    static byte[] name(String name) {
        if (name == null || name.isEmpty()) {
            throw new IllegalArgumentException("a FUSE file name must not be empty");
        }
        if (name.indexOf('/') >= 0 || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("FUSE file name \"" + name + "\" contains '/' or NUL: it must be one path component");
        }
        byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
        if (utf8.length > FuseDirent.NAME_MAX) {
            throw new IllegalArgumentException("FUSE file name of " + utf8.length + " bytes exceeds " + FuseDirent.NAME_MAX);
        }
        byte[] out = new byte[utf8.length + 1];
        System.arraycopy(utf8, 0, out, 0, utf8.length);
        return out;
    }

    private static void checkSize(int size, String what) {
        if (size <= 0) {
            throw new IllegalArgumentException(what + " of " + size + " bytes: must be positive");
        }
    }

    private static void checkOffset(long offset, String what) {
        if (offset < 0) {
            throw new IllegalArgumentException(what + " at negative offset " + offset);
        }
    }

    public static FuseRequest init(int major, int minor, int maxReadahead, long flags) {
        ByteBuffer b = struct(INIT_IN_BYTES).putInt(major).putInt(minor).putInt(maxReadahead)
                .putInt((int) flags).putInt((int) (flags >>> 32));
        return new FuseRequest(FuseOpcode.INIT, 0, List.of(b.array()), FuseInitOut.BYTES, true,
                String.format("INIT %d.%d flags %s", major, minor, FuseInitFlags.describe(flags)));
    }

    public static FuseRequest lookup(long parent, String name) {
        return new FuseRequest(FuseOpcode.LOOKUP, parent, List.of(name(name)), FuseEntryOut.BYTES, true,
                "LOOKUP \"" + name + "\" in node " + parent);
    }

    /** FORGET: the client drops {@code nlookup} lookups of {@code node}; the server does not answer. */
    public static FuseRequest forget(long node, long nlookup) {
        if (nlookup <= 0) {
            throw new IllegalArgumentException("FORGET of node " + node + ": nlookup " + nlookup + " must be positive");
        }
        return new FuseRequest(FuseOpcode.FORGET, node, List.of(struct(FORGET_IN_BYTES).putLong(nlookup).array()), 0, false,
                "FORGET node " + node + " x" + nlookup);
    }

    /** GETATTR of {@code node}; with an open handle ({@code fh >= 0}) FUSE_GETATTR_FH is set. */
    public static FuseRequest getattr(long node, long fh) {
        ByteBuffer b = struct(GETATTR_IN_BYTES).putInt(fh >= 0 ? GETATTR_FH : 0).putInt(0).putLong(Math.max(fh, 0));
        return new FuseRequest(FuseOpcode.GETATTR, node, List.of(b.array()), FuseAttrOut.BYTES, true, "GETATTR node " + node);
    }

    /** OPEN with open(2) flags (O_RDONLY 0, O_WRONLY 1, O_RDWR 2, ...). */
    public static FuseRequest open(long node, int flags) {
        return new FuseRequest(FuseOpcode.OPEN, node, List.of(struct(OPEN_IN_BYTES).putInt(flags).putInt(0).array()),
                FuseOpenOut.BYTES, true, String.format("OPEN node %d flags 0%o", node, flags));
    }

    public static FuseRequest opendir(long node) {
        return new FuseRequest(FuseOpcode.OPENDIR, node, List.of(struct(OPEN_IN_BYTES).putInt(0).putInt(0).array()),
                FuseOpenOut.BYTES, true, "OPENDIR node " + node);
    }

    /** READ of up to {@code size} bytes; the reply body is the data (shorter at end of file). */
    public static FuseRequest read(long node, long fh, long offset, int size) {
        checkSize(size, "READ");
        checkOffset(offset, "READ");
        return new FuseRequest(FuseOpcode.READ, node, List.of(readIn(fh, offset, size)), size, true,
                String.format("READ node %d fh %d offset %d size %d", node, fh, offset, size));
    }

    /** READDIR of up to {@code size} bytes of dirents from {@code offset} (0, or a previous dirent's off). */
    public static FuseRequest readdir(long node, long fh, long offset, int size) {
        checkSize(size, "READDIR");
        checkOffset(offset, "READDIR");
        return new FuseRequest(FuseOpcode.READDIR, node, List.of(readIn(fh, offset, size)), size, true,
                String.format("READDIR node %d fh %d offset %d", node, fh, offset));
    }

    /** fuse_read_in: fh, offset, size, read_flags, lock_owner, flags, padding. */
    private static byte[] readIn(long fh, long offset, int size) {
        return struct(READ_IN_BYTES).putLong(fh).putLong(offset).putInt(size).putInt(0).putLong(0).putInt(0).putInt(0).array();
    }

    /** WRITE of {@code data}: fuse_write_in, then the data as a part of its own (virtiofsd's zero-copy path wants that). */
    public static FuseRequest write(long node, long fh, long offset, byte[] data) {
        checkSize(data.length, "WRITE");
        checkOffset(offset, "WRITE");
        byte[] in = struct(WRITE_IN_BYTES).putLong(fh).putLong(offset).putInt(data.length).putInt(0).putLong(0)
                .putInt(0).putInt(0).array();
        return new FuseRequest(FuseOpcode.WRITE, node, List.of(in, data), FuseWriteOut.BYTES, true,
                String.format("WRITE node %d fh %d offset %d size %d", node, fh, offset, data.length));
    }

    /** CREATE and open {@code name} in {@code parent}: fuse_create_in (flags, mode, umask, open_flags), name. */
    public static FuseRequest create(long parent, String name, int flags, int mode, int umask) {
        byte[] in = struct(CREATE_IN_BYTES).putInt(flags).putInt(mode).putInt(umask).putInt(0).array();
        return new FuseRequest(FuseOpcode.CREATE, parent, List.of(in, name(name)), FuseCreated.BYTES, true,
                String.format("CREATE \"%s\" in node %d mode 0%o", name, parent, mode));
    }

    /** MKDIR: fuse_mkdir_in (mode, umask), name. */
    public static FuseRequest mkdir(long parent, String name, int mode, int umask) {
        byte[] in = struct(MKDIR_IN_BYTES).putInt(mode).putInt(umask).array();
        return new FuseRequest(FuseOpcode.MKDIR, parent, List.of(in, name(name)), FuseEntryOut.BYTES, true,
                String.format("MKDIR \"%s\" in node %d mode 0%o", name, parent, mode));
    }

    public static FuseRequest unlink(long parent, String name) {
        return new FuseRequest(FuseOpcode.UNLINK, parent, List.of(name(name)), 0, true, "UNLINK \"" + name + "\" in node " + parent);
    }

    /** RELEASE of an OPEN/CREATE handle: fuse_release_in (fh, flags, release_flags, lock_owner). */
    public static FuseRequest release(long node, long fh, int flags) {
        return new FuseRequest(FuseOpcode.RELEASE, node, List.of(releaseIn(fh, flags)), 0, true,
                "RELEASE node " + node + " fh " + fh);
    }

    /** RELEASEDIR of an OPENDIR handle. */
    public static FuseRequest releasedir(long node, long fh) {
        return new FuseRequest(FuseOpcode.RELEASEDIR, node, List.of(releaseIn(fh, 0)), 0, true,
                "RELEASEDIR node " + node + " fh " + fh);
    }

    private static byte[] releaseIn(long fh, int flags) {
        return struct(RELEASE_IN_BYTES).putLong(fh).putInt(flags).putInt(0).putLong(0).array();
    }

    /** FLUSH (close(2) of one descriptor): fuse_flush_in (fh, unused, padding, lock_owner). */
    public static FuseRequest flush(long node, long fh, long lockOwner) {
        byte[] in = struct(FLUSH_IN_BYTES).putLong(fh).putInt(0).putInt(0).putLong(lockOwner).array();
        return new FuseRequest(FuseOpcode.FLUSH, node, List.of(in), 0, true, "FLUSH node " + node + " fh " + fh);
    }
}
