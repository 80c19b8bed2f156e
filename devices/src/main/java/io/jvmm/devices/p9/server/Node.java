package io.jvmm.devices.p9.server;

/**
 * An O_PATH descriptor of one file of the export, shared by the fids that name it or its
 * children (a fid keeps its parent's node for rename and remove), closed with its last user.
 */
final class Node {
    final int fd;
    private int refs = 1;

    Node(int fd) {
        this.fd = fd;
    }

    synchronized Node retain() {
        if (refs <= 0) {
            throw new IllegalStateException("node fd " + fd + " already closed");
        }
        refs++;
        return this;
    }

    void release() {
        boolean close;
        synchronized (this) {
            close = --refs == 0;
        }
        if (close) {
            Sys.close(fd);
        }
    }
}
