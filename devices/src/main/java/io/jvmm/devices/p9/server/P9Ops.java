package io.jvmm.devices.p9.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import jnr.ffi.Pointer;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static io.jvmm.devices.p9.server.P9.*;

/**
 * The file operations: one handler per message type in a table (as kvmtool's virtio/9p.c), each
 * reading its T-message and returning its R-message. Every lookup is relative to a fid's O_PATH
 * descriptor with O_NOFOLLOW, one name at a time ('/' is refused, ".." at the root stays there),
 * so neither "..", nor absolute symlinks, nor symlinks pointing outside can leave the export.
 */
final class P9Ops {
    /** One request being handled: the fids it uses are released when it ends. */
    static final class Call {
        final P9Session session;
        final Request request;
        final ByteBuf in;
        private final List<Fid> held = new ArrayList<>(2);

        Call(P9Session session, Request request, ByteBuf in) {
            this.session = session;
            this.request = request;
            this.in = in;
        }

        int u32() {
            need(in, 4);
            return in.readIntLE();
        }

        long u64() {
            need(in, 8);
            return in.readLongLE();
        }

        int u8() {
            need(in, 1);
            return in.readUnsignedByte();
        }

        int u16() {
            need(in, 2);
            return in.readUnsignedShortLE();
        }

        String str() {
            return readString(in);
        }

        Fid fid(int id) {
            Fid f = session.fids.get(id);
            if (f == null || !f.tryAcquire()) {
                throw new P9Error(Errno.EBADF, "unknown fid " + id);
            }
            held.add(f);
            return f;
        }

        void releaseAll() {
            for (Fid f : held) {
                f.release();
            }
            held.clear();
        }
    }

    @FunctionalInterface
    interface Handler {
        ByteBuf handle(Call c);
    }

    private static final int XATTR_SIZE_MAX = 65536;
    private static final String VIRTFS = "user.virtfs.";
    private static final int MAPPED_FILE_MODE = 0600;
    private static final int MAPPED_DIR_MODE = 0700;

    private final P9Server server;
    private final P9ServerConfig config;
    private final Handler[] table = new Handler[256];

    P9Ops(P9Server server) {
        this.server = server;
        this.config = server.config();
        table[TATTACH] = this::attach;
        table[TAUTH] = c -> {
            throw new P9Error(Errno.ENOENT, "no authentication required");
        };
        table[TWALK] = this::walk;
        table[TCLUNK] = this::clunk;
        table[TREMOVE] = this::remove;
        table[TGETATTR] = this::getattr;
        table[TSETATTR] = this::setattr;
        table[TSTATFS] = this::statfs;
        table[TLOPEN] = this::lopen;
        table[TLCREATE] = this::lcreate;
        table[TREAD] = this::read;
        table[TWRITE] = this::write;
        table[TREADDIR] = this::readdir;
        table[TMKDIR] = this::mkdir;
        table[TSYMLINK] = this::symlink;
        table[TMKNOD] = this::mknod;
        table[TREADLINK] = this::readlink;
        table[TLINK] = this::link;
        table[TRENAME] = this::rename;
        table[TRENAMEAT] = this::renameat;
        table[TUNLINKAT] = this::unlinkat;
        table[TFSYNC] = this::fsync;
        table[TLOCK] = this::lock;
        table[TGETLOCK] = this::getlock;
        table[TXATTRWALK] = this::xattrwalk;
        table[TXATTRCREATE] = this::xattrcreate;
    }

    ByteBuf handle(P9Session s, Request r) {
        Handler h = table[r.type];
        if (h == null) {
            throw new P9Error(Errno.EOPNOTSUPP, P9.name(r.type) + " is not a 9P2000.L request this server serves");
        }
        Call c = new Call(s, r, r.message.duplicate().readerIndex(HEADER));
        try {
            return h.handle(c);
        } finally {
            c.releaseAll();
        }
    }

    private static ByteBuf reply(Call c, int capacity) {
        return begin(PooledByteBufAllocator.DEFAULT.directBuffer(HEADER + capacity), c.request.type + 1, c.request.tag);
    }

    private static ByteBuf empty(Call c) {
        return finish(reply(c, 0));
    }

    private void writable() {
        if (config.readOnly()) {
            throw new P9Error(Errno.EROFS, "the export is read-only");
        }
    }

    private static void checkName(String name) {
        if (name.isEmpty() || name.equals(".") || name.equals("..") || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0) {
            throw new P9Error(Errno.EINVAL, "'" + name + "' is not a single file name");
        }
        if (name.length() > 255) {
            throw new P9Error(Errno.ENAMETOOLONG, "name of " + name.length() + " characters");
        }
    }

    // ---- version, attach, walk, clunk ---------------------------------------------------

    /** Tversion, answered inline by the session (a new session begins). */
    ByteBuf version(P9Session s, Request r) {
        ByteBuf in = r.message.duplicate().readerIndex(HEADER);
        int out;
        String version;
        try {
            need(in, 4);
            long asked = Integer.toUnsignedLong(in.readIntLE());
            version = readString(in);
            out = (int) Math.min(asked, config.maxMsize());
        } catch (P9Error e) {
            return P9Session.rlerror(r.tag, e.errno());
        }
        if (out < MIN_MSIZE) {
            return P9Session.rlerror(r.tag, Errno.EINVAL);
        }
        s.clunkAll();
        s.msize(out);
        ByteBuf b = begin(PooledByteBufAllocator.DEFAULT.directBuffer(64), TVERSION + 1, r.tag);
        b.writeIntLE(out);
        writeString(b, version.equals(VERSION) ? VERSION : "unknown");
        return finish(b);
    }

    private ByteBuf attach(Call c) {
        int fid = c.u32();
        c.u32();                       // afid: no authentication
        c.str();                       // uname
        c.str();                       // aname: the export is the export
        int nUname = c.u32();
        int uid = nUname == NOFID ? Sys.geteuid() : nUname;
        Node root = server.root().retain();
        Fid f = new Fid(fid, root, null, null, uid, true, true);
        add(c.session, f);
        ByteBuf out = reply(c, 13);
        qid(out, attrs(root.fd));
        return finish(out);
    }

    private void add(P9Session s, Fid f) {
        if (s.fids.size() >= config.maxFids()) {
            f.release();
            throw new P9Error(Errno.EMFILE, "more than " + config.maxFids() + " fids on one connection");
        }
        if (s.fids.putIfAbsent(f.id, f) != null) {
            f.release();
            throw new P9Error(Errno.EINVAL, "fid " + f.id + " is in use");
        }
        server.metrics().fidOpened();
    }

    private ByteBuf walk(Call c) {
        Fid f = c.fid(c.u32());
        int newfid = c.u32();
        int n = c.u16();
        if (n > MAX_WELEM) {
            throw new P9Error(Errno.EINVAL, n + " names in one walk, at most " + MAX_WELEM);
        }
        String[] names = new String[n];
        for (int i = 0; i < n; i++) {
            names[i] = c.str();
        }
        if (newfid != f.id && c.session.fids.containsKey(newfid)) {
            throw new P9Error(Errno.EINVAL, "newfid " + newfid + " is in use");
        }
        if (f.isXattr()) {
            throw new P9Error(Errno.EBADF, "walk from an xattr fid");
        }
        // Walking from an open fid is allowed (diod and QEMU allow it; diodls -l does it): the new fid is not open.
        Node cur = f.node.retain();
        Node parent = f.parent == null ? null : f.parent.retain();
        String name = f.name;
        boolean isRoot = f.isRoot;
        Sys.Stat st = null;
        List<Sys.Stat> qids = new ArrayList<>(n);
        try {
            for (int i = 0; i < n; i++) {
                String w = names[i];
                Node next;
                Node nextParent;
                String nextName;
                try {
                    if (w.equals(".")) {
                        next = cur.retain();           // diod's clients walk "."; it names the same file
                        nextParent = parent == null ? null : parent.retain();
                        nextName = name;
                    } else if (w.equals("..")) {
                        if (isRoot) {
                            next = cur.retain();       // ".." at the root is the root
                            nextParent = parent == null ? null : parent.retain();
                            nextName = name;
                        } else {
                            next = new Node(Sys.openat(cur.fd, "..", Sys.O_PATH | Sys.O_NOFOLLOW | Sys.O_DIRECTORY, 0));
                            nextParent = null;        // not known: rename/remove of it are refused
                            nextName = null;
                        }
                    } else {
                        if (w.isEmpty() || w.indexOf('/') >= 0) {
                            throw new P9Error(Errno.ENOENT, "'" + w + "' is not a single file name");
                        }
                        next = new Node(Sys.openat(cur.fd, w, Sys.O_PATH | Sys.O_NOFOLLOW, 0));
                        nextParent = cur.retain();
                        nextName = w;
                    }
                } catch (P9Error e) {
                    if (i == 0) {
                        throw e;
                    }
                    break;    // a partial walk: the qids so far, no new fid
                }
                if (parent != null) {
                    parent.release();
                }
                cur.release();
                cur = next;
                parent = nextParent;
                name = nextName;
                st = attrs(cur.fd);
                isRoot = server.isRoot(st);
                qids.add(st);
            }
            if (qids.size() == n) {
                boolean isDir = n == 0 ? f.isDir : st.isDir();
                Fid nf = new Fid(newfid, cur, parent, name, f.uid, isDir, isRoot);
                cur = null;
                parent = null;
                if (newfid == f.id) {
                    if (c.session.fids.replace(f.id, f, nf)) {
                        f.release();
                    } else {
                        nf.release();
                        throw new P9Error(Errno.EBADF, "fid " + f.id + " was clunked during the walk");
                    }
                } else {
                    add(c.session, nf);
                }
            }
        } finally {
            if (cur != null) {
                cur.release();
            }
            if (parent != null) {
                parent.release();
            }
        }
        ByteBuf out = reply(c, 2 + 13 * qids.size());
        out.writeShortLE(qids.size());
        for (Sys.Stat s : qids) {
            qid(out, s);
        }
        return finish(out);
    }

    private ByteBuf clunk(Call c) {
        int id = c.u32();
        Fid f = c.session.fids.remove(id);
        if (f == null) {
            throw new P9Error(Errno.EBADF, "unknown fid " + id);
        }
        server.metrics().fidClosed();
        try {
            applyXattr(f);
        } finally {
            f.release();
        }
        return empty(c);
    }

    /** The session is going away or a new version began: the fid goes without its xattr being set. */
    void clunkQuietly(Fid f) {
        server.metrics().fidClosed();
        f.release();
    }

    private ByteBuf remove(Call c) {
        int id = c.u32();
        Fid f = c.fid(id);
        try {
            writable();
            if (f.parent == null) {
                throw new P9Error(f.isRoot ? Errno.EBUSY : Errno.EINVAL, "cannot remove the export's root or a '..' fid");
            }
            Sys.unlinkat(f.parent.fd, f.name, f.isDir ? Sys.AT_REMOVEDIR : 0);
        } finally {
            if (c.session.fids.remove(id, f)) {   // remove clunks the fid whether or not it succeeded
                server.metrics().fidClosed();
                f.release();
            }
        }
        return empty(c);
    }

    // ---- attributes ---------------------------------------------------------------------

    /** The attributes the client sees: the host's, with mapped-xattr's user.virtfs.* applied. */
    private Sys.Stat attrs(int fd) {
        Sys.Stat st = Sys.fstat(fd);
        if (config.security() != SecurityModel.MAPPED_XATTR || st.isSymlink()) {
            return st;
        }
        int uid = st.uid();
        int gid = st.gid();
        int mode = st.mode();
        long rdev = st.rdev();
        byte[] v;
        if ((v = Sys.getxattrOrNull(fd, VIRTFS + "uid")) != null && v.length >= 4) {
            uid = le32(v);
        }
        if ((v = Sys.getxattrOrNull(fd, VIRTFS + "gid")) != null && v.length >= 4) {
            gid = le32(v);
        }
        if ((v = Sys.getxattrOrNull(fd, VIRTFS + "mode")) != null && v.length >= 4) {
            mode = le32(v);
        }
        if ((v = Sys.getxattrOrNull(fd, VIRTFS + "rdev")) != null && v.length >= 8) {
            rdev = ByteBuffer.wrap(v).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        }
        return st.with(mode, uid, gid, rdev);
    }

    private static int le32(byte[] v) {
        return ByteBuffer.wrap(v).order(ByteOrder.LITTLE_ENDIAN).getInt(0);
    }

    private static byte[] le32(int value) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(value).array();
    }

    private void qid(ByteBuf out, Sys.Stat st) {
        int type = st.isDir() ? QTDIR : st.isSymlink() ? QTSYMLINK : QTFILE;
        writeQid(out, type, 0, server.qidPath(st.dev(), st.ino()));
    }

    private ByteBuf getattr(Call c) {
        Fid f = c.fid(c.u32());
        c.u64();   // request_mask: the basic set is always there
        Sys.Stat st = attrs(f.node.fd);
        ByteBuf out = reply(c, 160);
        out.writeLongLE(GETATTR_BASIC);
        qid(out, st);
        out.writeIntLE(st.mode());
        out.writeIntLE(st.uid());
        out.writeIntLE(st.gid());
        out.writeLongLE(st.nlink());
        out.writeLongLE(st.rdev());
        out.writeLongLE(st.size());
        out.writeLongLE(st.blksize());
        out.writeLongLE(st.blocks());
        out.writeLongLE(st.atimeSec());
        out.writeLongLE(st.atimeNsec());
        out.writeLongLE(st.mtimeSec());
        out.writeLongLE(st.mtimeNsec());
        out.writeLongLE(st.ctimeSec());
        out.writeLongLE(st.ctimeNsec());
        out.writeLongLE(0);   // btime
        out.writeLongLE(0);
        out.writeLongLE(0);   // gen
        out.writeLongLE(0);   // data_version
        return finish(out);
    }

    private ByteBuf setattr(Call c) {
        Fid f = c.fid(c.u32());
        int valid = c.u32();
        int mode = c.u32();
        int uid = c.u32();
        int gid = c.u32();
        long size = c.u64();
        long aSec = c.u64();
        long aNsec = c.u64();
        long mSec = c.u64();
        long mNsec = c.u64();
        writable();
        Sys.Stat host = Sys.fstat(f.node.fd);
        if ((valid & SETATTR_MODE) != 0) {
            if (config.security() == SecurityModel.MAPPED_XATTR && !host.isSymlink()) {
                Sys.Stat eff = attrs(f.node.fd);
                Sys.setxattr(f.node.fd, VIRTFS + "mode", le32((eff.mode() & Sys.S_IFMT) | (mode & 07777)), 0);
            } else if (!host.isSymlink()) {
                Sys.chmod(f.node.fd, mode);
            }
        }
        if ((valid & (SETATTR_UID | SETATTR_GID)) != 0) {
            int u = (valid & SETATTR_UID) != 0 ? uid : -1;
            int g = (valid & SETATTR_GID) != 0 ? gid : -1;
            setOwner(f.node.fd, host, u, g);
        }
        if ((valid & SETATTR_SIZE) != 0) {
            if (host.isDir()) {
                throw new P9Error(Errno.EISDIR, "truncate of a directory");
            }
            if (host.isSymlink()) {
                throw new P9Error(Errno.EINVAL, "truncate of a symbolic link");
            }
            int fd;
            synchronized (f) {
                fd = f.openFd >= 0 && (f.openFlags & Sys.O_ACCMODE) != Sys.O_RDONLY ? f.openFd : -1;
            }
            if (fd >= 0) {
                Sys.ftruncate(fd, size);
            } else {
                refuseDevice(host);
                Sys.truncate(f.node.fd, size);
            }
        }
        if ((valid & (SETATTR_ATIME | SETATTR_MTIME)) != 0 && !host.isSymlink()) {
            long an = (valid & SETATTR_ATIME) == 0 ? Sys.UTIME_OMIT : (valid & SETATTR_ATIME_SET) != 0 ? aNsec : Sys.UTIME_NOW;
            long mn = (valid & SETATTR_MTIME) == 0 ? Sys.UTIME_OMIT : (valid & SETATTR_MTIME_SET) != 0 ? mNsec : Sys.UTIME_NOW;
            Sys.utimens(f.node.fd, aSec, an, mSec, mn);
        }
        return empty(c);
    }

    /** Ownership as the security model keeps it; -1 leaves a field as it is. */
    private void setOwner(int fd, Sys.Stat host, int uid, int gid) {
        switch (config.security()) {
            case MAPPED_XATTR:
                if (host.isSymlink()) {
                    return;
                }
                if (uid != -1) {
                    Sys.setxattr(fd, VIRTFS + "uid", le32(uid), 0);
                }
                if (gid != -1) {
                    Sys.setxattr(fd, VIRTFS + "gid", le32(gid), 0);
                }
                return;
            case NONE:
                try {
                    Sys.chown(fd, uid, gid);
                } catch (P9Error e) {
                    // security_model=none: ownership changes that fail are ignored
                }
                return;
            default:
                Sys.chown(fd, uid, gid);
        }
    }

    /**
     * A file just created: mode and owner as the model keeps them. Passthrough and none set the
     * real mode (the server's umask must not apply) and owner; mapped-xattr records them.
     */
    private void created(int fd, boolean symlink, int fullMode, int uid, int gid, long rdev) {
        switch (config.security()) {
            case MAPPED_XATTR:
                Sys.setxattr(fd, VIRTFS + "uid", le32(uid), 0);
                Sys.setxattr(fd, VIRTFS + "gid", le32(gid), 0);
                Sys.setxattr(fd, VIRTFS + "mode", le32(fullMode), 0);
                if (rdev != 0) {
                    Sys.setxattr(fd, VIRTFS + "rdev", ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(rdev).array(), 0);
                }
                return;
            case NONE:
                if (!symlink) {
                    Sys.chmod(fd, fullMode);
                }
                try {
                    Sys.chown(fd, uid, gid);
                } catch (P9Error e) {
                    // ignored under none
                }
                return;
            default:
                if (!symlink) {
                    Sys.chmod(fd, fullMode);
                }
                Sys.chown(fd, uid, gid);
        }
    }

    private ByteBuf statfs(Call c) {
        Fid f = c.fid(c.u32());
        long[] s = Sys.fstatfs(f.node.fd);
        ByteBuf out = reply(c, 60);
        out.writeIntLE((int) s[0]);
        out.writeIntLE((int) s[1]);
        for (int i = 2; i <= 7; i++) {
            out.writeLongLE(s[i]);
        }
        out.writeIntLE((int) s[8]);
        return finish(out);
    }

    // ---- open, create, data ---------------------------------------------------------------

    private static void refuseDevice(Sys.Stat host) {
        if (host.isDevice()) {
            throw new P9Error(Errno.EPERM, "device nodes in the export are never opened");
        }
    }

    /** The open(2) flags a client may ask for (9P2000.L's flags are Linux x86-64's). */
    private int openFlags(int flags) {
        int allowed = Sys.O_ACCMODE | Sys.O_TRUNC | Sys.O_APPEND | Sys.O_NONBLOCK | Sys.O_DSYNC | Sys.O_SYNC | Sys.O_DIRECTORY
                | Sys.O_EXCL | Sys.O_LARGEFILE;
        int f = flags & allowed;
        if ((f & Sys.O_ACCMODE) == 3) {
            f &= ~Sys.O_ACCMODE;   // "no access" (ioctl-only opens) becomes read-only
        }
        if (config.readOnly() && ((f & Sys.O_ACCMODE) != Sys.O_RDONLY || (f & Sys.O_TRUNC) != 0)) {
            throw new P9Error(Errno.EROFS, "the export is read-only");
        }
        return f;
    }

    private ByteBuf lopen(Call c) {
        Fid f = c.fid(c.u32());
        int flags = openFlags(c.u32());
        Sys.Stat host = Sys.fstat(f.node.fd);
        refuseDevice(host);
        if (host.isSymlink()) {
            throw new P9Error(Errno.ELOOP, "lopen of a symbolic link");
        }
        boolean stream = host.type() == Sys.S_IFIFO || host.type() == Sys.S_IFSOCK;
        if (host.isDir()) {
            flags = Sys.O_RDONLY | Sys.O_DIRECTORY;
        } else if (stream) {
            flags |= Sys.O_NONBLOCK;   // a FIFO with no writer must not hold a worker
        }
        synchronized (f) {
            if (f.openFd >= 0 || f.isXattr()) {
                throw new P9Error(Errno.EBADF, "fid " + f.id + " is already open");
            }
            // Through the magic link: the same inode the fid holds, no path resolved again.
            f.openFd = Sys.openat(Sys.AT_FDCWD, Sys.procPath(f.node.fd), flags, 0);
            f.openFlags = flags;
            f.openStream = stream;
        }
        ByteBuf out = reply(c, 17);
        qid(out, attrs(f.node.fd));
        out.writeIntLE(iounit(c.session, f.node.fd));
        return finish(out);
    }

    private ByteBuf lcreate(Call c) {
        int id = c.u32();
        Fid dir = c.fid(id);
        String name = c.str();
        int flags = openFlags(c.u32());
        int mode = c.u32();
        int gid = c.u32();
        writable();
        checkName(name);
        boolean mapped = config.security() == SecurityModel.MAPPED_XATTR;
        int fd = Sys.openat(dir.node.fd, name, (flags & ~Sys.O_DIRECTORY) | Sys.O_CREAT | Sys.O_EXCL | Sys.O_NOFOLLOW,
                mapped ? MAPPED_FILE_MODE : mode & 07777);
        Node node;
        try {
            node = new Node(Sys.openat(Sys.AT_FDCWD, Sys.procPath(fd), Sys.O_PATH, 0));
        } catch (P9Error e) {
            Sys.close(fd);
            throw e;
        }
        Fid nf = new Fid(id, node, dir.node.retain(), name, dir.uid, false, false);
        synchronized (nf) {
            nf.openFd = fd;
            nf.openFlags = flags;
        }
        try {
            created(node.fd, false, Sys.S_IFREG | (mode & 07777), dir.uid, gid, 0);
        } catch (P9Error e) {
            nf.release();
            Sys.unlinkat(dir.node.fd, name, 0);
            throw e;
        }
        if (!c.session.fids.replace(id, dir, nf)) {
            nf.release();
            throw new P9Error(Errno.EBADF, "fid " + id + " was clunked during the create");
        }
        dir.release();   // the table's reference to the directory fid
        ByteBuf out = reply(c, 17);
        qid(out, attrs(node.fd));
        out.writeIntLE(iounit(c.session, node.fd));
        return finish(out);
    }

    /**
     * The iounit of an open file, as QEMU gives it: the largest multiple of the file system's
     * block size that fits a message (Linux reads and writes in units of it; 0 would leave the
     * choice to the client).
     */
    private static int iounit(P9Session s, int fd) {
        int room = s.msize() - IOHDRSZ;
        long bsize;
        try {
            bsize = Sys.fstatfs(fd)[1];
        } catch (P9Error e) {
            return 0;
        }
        if (bsize <= 0 || bsize > room) {
            return room;
        }
        return (int) (room / bsize * bsize);
    }

    private static long address(ByteBuf b) {
        if (b.hasMemoryAddress()) {
            return b.memoryAddress();
        }
        return Pointer.wrap(Sys.RT, b.nioBuffer(0, b.capacity())).address();
    }

    private ByteBuf read(Call c) {
        Fid f = c.fid(c.u32());
        long offset = c.u64();
        int count = c.u32();
        if (offset < 0) {
            throw new P9Error(Errno.EINVAL, "negative offset");
        }
        count = (int) Math.max(0, Math.min(Integer.toUnsignedLong(count), c.session.msize() - IO_HEADER));
        byte[] xattr;
        synchronized (f) {
            xattr = f.xattrValue;
        }
        if (xattr != null) {
            int n = (int) Math.max(0, Math.min(count, xattr.length - Math.min(offset, xattr.length)));
            ByteBuf out = reply(c, 4 + n);
            out.writeIntLE(n);
            out.writeBytes(xattr, (int) offset, n);
            return finish(out);
        }
        int fd = f.openFd();
        ByteBuf out = reply(c, 4 + count);
        try {
            long base = address(out) + IO_HEADER;
            int done = 0;
            if (f.openStream) {
                done = Sys.readStream(fd, base, count);
            } else {
                while (done < count) {
                    int n = Sys.pread(fd, base + done, count - done, offset + done);
                    if (n == 0) {
                        break;
                    }
                    done += n;
                }
            }
            out.writeIntLE(done);
            out.writerIndex(IO_HEADER + done);
            server.metrics().read(done);
            return finish(out);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
    }

    private ByteBuf write(Call c) {
        Fid f = c.fid(c.u32());
        long offset = c.u64();
        int count = c.u32();
        if (count < 0 || c.in.readableBytes() < count) {
            throw new P9Error(Errno.EPROTO, "Twrite announces " + Integer.toUnsignedLong(count) + " bytes, carries " + c.in.readableBytes());
        }
        if (offset < 0) {
            throw new P9Error(Errno.EINVAL, "negative offset");
        }
        synchronized (f) {
            if (f.xattrName != null) {
                if (offset != f.xattrWritten.size() || f.xattrWritten.size() + (long) count > f.xattrSize) {
                    throw new P9Error(Errno.EINVAL, "xattr value written out of order or beyond its announced size");
                }
                byte[] data = new byte[count];
                c.in.readBytes(data);
                f.xattrWritten.write(data, 0, count);
                ByteBuf out = reply(c, 4);
                out.writeIntLE(count);
                return finish(out);
            }
        }
        int fd = f.openFd();
        if ((f.openFlags & Sys.O_ACCMODE) == Sys.O_RDONLY) {
            throw new P9Error(Errno.EBADF, "fid " + f.id + " is open read-only");
        }
        long base = address(c.in) + c.in.readerIndex();
        int done = 0;
        while (done < count) {
            done += f.openStream ? Sys.writeStream(fd, base + done, count - done) : Sys.pwrite(fd, base + done, count - done, offset + done);
        }
        server.metrics().written(done);
        ByteBuf out = reply(c, 4);
        out.writeIntLE(done);
        return finish(out);
    }

    private ByteBuf readdir(Call c) {
        Fid f = c.fid(c.u32());
        long offset = c.u64();
        int count = (int) Math.min(Integer.toUnsignedLong(c.u32()), c.session.msize() - IO_HEADER);
        int fd = f.openFd();
        if (!f.isDir) {
            throw new P9Error(Errno.ENOTDIR, "readdir of a file");
        }
        ByteBuf out = reply(c, 4 + count);
        out.writeIntLE(0);
        ByteBuf dents = PooledByteBufAllocator.DEFAULT.directBuffer(32768);
        try {
            long base = address(dents);
            synchronized (f) {
                Sys.lseek(fd, offset);
                boolean full = false;
                while (!full) {
                    int n = Sys.getdents(fd, base, dents.capacity());
                    if (n == 0) {
                        break;
                    }
                    int pos = 0;
                    while (pos < n) {
                        long ino = dents.getLongLE(pos);
                        long off = dents.getLongLE(pos + 8);
                        int reclen = dents.getUnsignedShortLE(pos + 16);
                        int dtype = dents.getUnsignedByte(pos + 18);
                        int end = pos + 19;
                        while (end < pos + reclen && dents.getByte(end) != 0) {
                            end++;
                        }
                        int nameLen = end - (pos + 19);
                        int need = 13 + 8 + 1 + 2 + nameLen;
                        if (out.writerIndex() - IO_HEADER + need > count) {
                            full = true;
                            break;
                        }
                        writeQid(out, dtype == 4 ? QTDIR : dtype == 10 ? QTSYMLINK : QTFILE, 0,
                                server.qidPath(server.rootDev(), ino));
                        out.writeLongLE(off);
                        out.writeByte(dtype);
                        out.writeShortLE(nameLen);
                        out.writeBytes(dents, pos + 19, nameLen);
                        pos += reclen;
                    }
                }
            }
            out.setIntLE(HEADER, out.writerIndex() - IO_HEADER);
            return finish(out);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        } finally {
            dents.release();
        }
    }

    private ByteBuf fsync(Call c) {
        Fid f = c.fid(c.u32());
        int datasync = c.u32();
        Sys.fsync(f.openFd(), datasync != 0);
        return empty(c);
    }

    // ---- names ----------------------------------------------------------------------------

    private ByteBuf mkdir(Call c) {
        Fid dir = c.fid(c.u32());
        String name = c.str();
        int mode = c.u32();
        int gid = c.u32();
        writable();
        checkName(name);
        Sys.mkdirat(dir.node.fd, name, config.security() == SecurityModel.MAPPED_XATTR ? MAPPED_DIR_MODE : mode & 07777);
        return newEntry(c, dir, name, false, Sys.S_IFDIR | (mode & 07777), gid, 0);
    }

    /** Applies ownership to a name just made in dir and answers its qid; undoes the name on failure. */
    private ByteBuf newEntry(Call c, Fid dir, String name, boolean symlink, int fullMode, int gid, long rdev) {
        int fd = -1;
        try {
            fd = Sys.openat(dir.node.fd, name, Sys.O_PATH | Sys.O_NOFOLLOW, 0);
            created(fd, symlink, fullMode, dir.uid, gid, rdev);
            ByteBuf out = reply(c, 13);
            qid(out, attrs(fd));
            return finish(out);
        } catch (P9Error e) {
            try {
                Sys.unlinkat(dir.node.fd, name, (fullMode & Sys.S_IFMT) == Sys.S_IFDIR ? Sys.AT_REMOVEDIR : 0);
            } catch (P9Error ignored) {
                // best effort
            }
            throw e;
        } finally {
            if (fd >= 0) {
                Sys.close(fd);
            }
        }
    }

    private ByteBuf symlink(Call c) {
        Fid dir = c.fid(c.u32());
        String name = c.str();
        String target = c.str();
        int gid = c.u32();
        writable();
        checkName(name);
        if (config.security() == SecurityModel.MAPPED_XATTR) {
            // As QEMU keeps them: a regular file holding the target, its mode saying S_IFLNK.
            int fd = Sys.openat(dir.node.fd, name, Sys.O_CREAT | Sys.O_EXCL | Sys.O_WRONLY | Sys.O_NOFOLLOW, MAPPED_FILE_MODE);
            try {
                byte[] t = target.getBytes(StandardCharsets.UTF_8);
                ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(Math.max(1, t.length));
                try {
                    b.writeBytes(t);
                    Sys.pwrite(fd, address(b), t.length, 0);
                } finally {
                    b.release();
                }
            } finally {
                Sys.close(fd);
            }
            return newEntry(c, dir, name, false, Sys.S_IFLNK | 0777, gid, 0);
        }
        Sys.symlinkat(target, dir.node.fd, name);
        return newEntry(c, dir, name, true, Sys.S_IFLNK | 0777, gid, 0);
    }

    private ByteBuf mknod(Call c) {
        Fid dir = c.fid(c.u32());
        String name = c.str();
        int mode = c.u32();
        int major = c.u32();
        int minor = c.u32();
        int gid = c.u32();
        writable();
        checkName(name);
        long dev = ((major & 0xfffff000L) << 32) | ((major & 0xfffL) << 8) | ((minor & 0xffffff00L) << 12) | (minor & 0xffL);
        if (config.security() == SecurityModel.MAPPED_XATTR) {
            // Never a real device node: a regular file whose xattrs say what it is.
            Sys.close(Sys.openat(dir.node.fd, name, Sys.O_CREAT | Sys.O_EXCL | Sys.O_WRONLY | Sys.O_NOFOLLOW, MAPPED_FILE_MODE));
        } else {
            Sys.mknodat(dir.node.fd, name, mode, dev);
        }
        return newEntry(c, dir, name, false, mode, gid, dev);
    }

    private ByteBuf readlink(Call c) {
        Fid f = c.fid(c.u32());
        Sys.Stat host = Sys.fstat(f.node.fd);
        String target;
        if (host.isSymlink()) {
            target = Sys.readlink(f.node.fd);
        } else if (config.security() == SecurityModel.MAPPED_XATTR && (attrs(f.node.fd).mode() & Sys.S_IFMT) == Sys.S_IFLNK
                && host.type() == Sys.S_IFREG && host.size() <= 4096) {
            int fd = Sys.openat(Sys.AT_FDCWD, Sys.procPath(f.node.fd), Sys.O_RDONLY, 0);
            ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(4096);
            try {
                int n = Sys.pread(fd, address(b), 4096, 0);
                target = b.toString(0, n, StandardCharsets.UTF_8);
            } finally {
                b.release();
                Sys.close(fd);
            }
        } else {
            throw new P9Error(Errno.EINVAL, "not a symbolic link");
        }
        ByteBuf out = reply(c, 2 + target.length() * 3);
        writeString(out, target);
        return finish(out);
    }

    private ByteBuf link(Call c) {
        Fid dir = c.fid(c.u32());
        Fid f = c.fid(c.u32());
        String name = c.str();
        writable();
        checkName(name);
        if (f.isDir) {
            throw new P9Error(Errno.EPERM, "hard link to a directory");
        }
        if (Sys.fstat(f.node.fd).isSymlink()) {
            Sys.linkSymlink(f.node.fd, dir.node.fd, name);   // the magic link would lead to the target
        } else {
            Sys.link(f.node.fd, dir.node.fd, name);
        }
        return empty(c);
    }

    private ByteBuf rename(Call c) {
        Fid f = c.fid(c.u32());
        Fid dir = c.fid(c.u32());
        String name = c.str();
        writable();
        checkName(name);
        if (f.parent == null) {
            throw new P9Error(Errno.EBUSY, "cannot rename the export's root or a '..' fid");
        }
        Sys.renameat(f.parent.fd, f.name, dir.node.fd, name);
        return empty(c);
    }

    private ByteBuf renameat(Call c) {
        Fid oldDir = c.fid(c.u32());
        String oldName = c.str();
        Fid newDir = c.fid(c.u32());
        String newName = c.str();
        writable();
        checkName(oldName);
        checkName(newName);
        Sys.renameat(oldDir.node.fd, oldName, newDir.node.fd, newName);
        return empty(c);
    }

    private ByteBuf unlinkat(Call c) {
        Fid dir = c.fid(c.u32());
        String name = c.str();
        int flags = c.u32();
        writable();
        checkName(name);
        Sys.unlinkat(dir.node.fd, name, flags & Sys.AT_REMOVEDIR);
        return empty(c);
    }

    // ---- locks ----------------------------------------------------------------------------

    private static short lockType(int t) {
        switch (t) {
            case LOCK_TYPE_RDLCK: return Sys.F_RDLCK;
            case LOCK_TYPE_WRLCK: return Sys.F_WRLCK;
            case LOCK_TYPE_UNLCK: return Sys.F_UNLCK;
            default: throw new P9Error(Errno.EINVAL, "lock type " + t);
        }
    }

    private ByteBuf lock(Call c) {
        Fid f = c.fid(c.u32());
        short type = lockType(c.u8());
        c.u32();   // flags: blocking is the client's loop (it retries on BLOCKED)
        long start = c.u64();
        long length = c.u64();
        c.u32();   // proc_id
        c.str();   // client_id
        boolean ok = Sys.setLock(f.openFd(), type, start, length);
        ByteBuf out = reply(c, 1);
        out.writeByte(ok ? LOCK_SUCCESS : LOCK_BLOCKED);
        return finish(out);
    }

    private ByteBuf getlock(Call c) {
        Fid f = c.fid(c.u32());
        short type = lockType(c.u8());
        long start = c.u64();
        long length = c.u64();
        int procId = c.u32();
        String clientId = c.str();
        long[] l = Sys.getLock(f.openFd(), type, start, length);
        ByteBuf out = reply(c, 32 + clientId.length() * 3);
        int t = (int) l[0];
        out.writeByte(t == Sys.F_RDLCK ? LOCK_TYPE_RDLCK : t == Sys.F_WRLCK ? LOCK_TYPE_WRLCK : LOCK_TYPE_UNLCK);
        out.writeLongLE(t == Sys.F_UNLCK ? start : l[1]);
        out.writeLongLE(t == Sys.F_UNLCK ? length : l[2]);
        out.writeIntLE(t == Sys.F_UNLCK ? procId : (int) l[3]);
        writeString(out, clientId);
        return finish(out);
    }

    // ---- xattrs ---------------------------------------------------------------------------

    private boolean hidden(String name) {
        return config.security() == SecurityModel.MAPPED_XATTR && name.startsWith(VIRTFS);
    }

    private ByteBuf xattrwalk(Call c) {
        Fid f = c.fid(c.u32());
        int newfid = c.u32();
        String name = c.str();
        if (Sys.fstat(f.node.fd).isSymlink()) {
            throw new P9Error(Errno.EOPNOTSUPP, "xattrs of a symbolic link");
        }
        byte[] value;
        if (name.isEmpty()) {
            byte[] list = Sys.listxattr(f.node.fd);
            ByteArrayOutputStream kept = new ByteArrayOutputStream(list.length);
            int start = 0;
            for (int i = 0; i < list.length; i++) {
                if (list[i] == 0) {
                    String n = new String(list, start, i - start, StandardCharsets.UTF_8);
                    if (!hidden(n)) {
                        kept.write(list, start, i - start + 1);
                    }
                    start = i + 1;
                }
            }
            value = kept.toByteArray();
        } else {
            if (hidden(name)) {
                throw new P9Error(Errno.ENODATA, name + " is kept for mapped-xattr");
            }
            value = Sys.getxattr(f.node.fd, name);
        }
        if (newfid != f.id && c.session.fids.containsKey(newfid)) {
            throw new P9Error(Errno.EINVAL, "newfid " + newfid + " is in use");
        }
        Fid nf = new Fid(newfid, f.node.retain(), f.parent == null ? null : f.parent.retain(), f.name, f.uid, f.isDir, f.isRoot);
        synchronized (nf) {
            nf.xattrValue = value;
        }
        if (newfid == f.id) {
            if (!c.session.fids.replace(f.id, f, nf)) {
                nf.release();
                throw new P9Error(Errno.EBADF, "fid clunked meanwhile");
            }
            f.release();
        } else {
            add(c.session, nf);
        }
        ByteBuf out = reply(c, 8);
        out.writeLongLE(value.length);
        return finish(out);
    }

    private ByteBuf xattrcreate(Call c) {
        Fid f = c.fid(c.u32());
        String name = c.str();
        long size = c.u64();
        int flags = c.u32();
        writable();
        if (size < 0 || size > XATTR_SIZE_MAX) {
            throw new P9Error(Errno.E2BIG, "xattr value of " + size + " bytes");
        }
        if (hidden(name)) {
            throw new P9Error(Errno.EPERM, name + " is kept for mapped-xattr");
        }
        if (Sys.fstat(f.node.fd).isSymlink()) {
            throw new P9Error(Errno.EOPNOTSUPP, "xattrs of a symbolic link");
        }
        synchronized (f) {
            if (f.openFd >= 0 || f.isXattr()) {
                throw new P9Error(Errno.EBADF, "fid " + f.id + " is open");
            }
            f.xattrName = name;
            f.xattrSize = size;
            f.xattrFlags = flags & (Sys.XATTR_CREATE | Sys.XATTR_REPLACE);
            f.xattrWritten = new ByteArrayOutputStream((int) size);
        }
        return empty(c);
    }

    /** At clunk of an xattrcreate fid: the value written is set (or, empty, the attribute removed). */
    private void applyXattr(Fid f) {
        String name;
        byte[] value;
        int flags;
        long size;
        synchronized (f) {
            if (f.xattrName == null) {
                return;
            }
            name = f.xattrName;
            value = f.xattrWritten.toByteArray();
            flags = f.xattrFlags;
            size = f.xattrSize;
            f.xattrName = null;
        }
        if (value.length != size) {
            throw new P9Error(Errno.EINVAL, "xattr " + name + ": " + value.length + " of " + size + " bytes written");
        }
        if (size == 0) {
            Sys.removexattr(f.node.fd, name);
        } else {
            Sys.setxattr(f.node.fd, name, value, flags);
        }
    }
}
