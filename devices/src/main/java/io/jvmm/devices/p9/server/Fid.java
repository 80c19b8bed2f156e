package io.jvmm.devices.p9.server;

import java.io.ByteArrayOutputStream;

/**
 * One fid of a connection: the file it names (an O_PATH descriptor, so every lookup from it is
 * relative and nothing is reached by path), its parent and name (for rename and remove), the
 * user it acts for, and once opened the open descriptor. An xattr fid holds the value being
 * read (xattrwalk) or written (xattrcreate) instead.
 *
 * <p>Reference counted: the connection's table holds one reference, each request using the fid
 * another, so a Tclunk racing a Tread never closes a descriptor the read still uses.
 */
final class Fid {
    final int id;
    final Node node;
    final Node parent;     // null for the export's root
    final String name;     // the name in parent; null for the root
    final int uid;
    final boolean isDir;
    final boolean isRoot;

    // Open state (guarded by this).
    int openFd = -1;
    int openFlags;
    boolean openStream;    // a FIFO or socket: read/write, not pread/pwrite

    // Xattr fids (guarded by this).
    byte[] xattrValue;                 // xattrwalk: the value or the list to read
    String xattrName;                  // xattrcreate: the attribute to set at clunk
    int xattrFlags;
    long xattrSize = -1;               // xattrcreate: announced size
    ByteArrayOutputStream xattrWritten;

    private int refs = 1;

    Fid(int id, Node node, Node parent, String name, int uid, boolean isDir, boolean isRoot) {
        this.id = id;
        this.node = node;
        this.parent = parent;
        this.name = name;
        this.uid = uid;
        this.isDir = isDir;
        this.isRoot = isRoot;
    }

    /** The fd for data operations: the open one (after lopen / lcreate). */
    synchronized int openFd() {
        if (openFd < 0) {
            throw new P9Error(Errno.EBADF, "fid " + id + " is not open");
        }
        return openFd;
    }

    synchronized boolean isOpen() {
        return openFd >= 0;
    }

    synchronized boolean isXattr() {
        return xattrValue != null || xattrName != null;
    }

    synchronized boolean tryAcquire() {
        if (refs <= 0) {
            return false;
        }
        refs++;
        return true;
    }

    /** Drops one reference; the last closes the open descriptor and releases the nodes. */
    void release() {
        int fd;
        synchronized (this) {
            if (--refs != 0) {
                return;
            }
            fd = openFd;
            openFd = -1;
        }
        if (fd >= 0) {
            Sys.close(fd);
        }
        node.release();
        if (parent != null) {
            parent.release();
        }
    }
}
