package io.jvmm.devices.blk.qcow2;

import io.jvmm.chardev.nativ.Native;
import java.nio.file.Path;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Locks an image file the way QEMU does (its file-posix driver), so QEMU and jvmm never write one
 * image at once: open file description (OFD) read locks on single bytes. For each permission bit
 * {@code i} (consistent read 0, write 1, write-unchanged 2, resize 3) a holder locks byte
 * {@code 100 + i} when it uses the permission and byte {@code 200 + i} when it does not let others
 * use it. Before locking, a user checks that nobody locks {@code 200 + i} for a permission it wants,
 * nor {@code 100 + i} for one it will not share.
 */
public final class ImageLock implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ImageLock.class);
    static final int PERM_BASE = 100;
    static final int SHARED_BASE = 200;
    static final int CONSISTENT_READ = 1;
    static final int WRITE = 1 << 1;
    static final int WRITE_UNCHANGED = 1 << 2;
    static final int RESIZE = 1 << 3;
    static final int ALL = CONSISTENT_READ | WRITE | WRITE_UNCHANGED | RESIZE;
    static final String[] NAMES = {"consistent read", "write", "write unchanged", "resize"};

    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 0x80000;
    private static final int F_OFD_GETLK = 36;
    private static final int F_OFD_SETLK = 37;
    private static final short F_RDLCK = 0;
    private static final short F_WRLCK = 1;
    private static final short F_UNLCK = 2;

    private final Path path;
    private final int fd;

    private ImageLock(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    /**
     * Locks {@code path} for a reader ({@code writable=false}: consistent read) or a writer
     * (consistent read, write, write-unchanged and resize); either shares consistent read and
     * write-unchanged only, as QEMU's opens without force-share do.
     *
     * @throws IllegalStateException naming the permission another process holds or refuses
     */
    public static ImageLock acquire(Path path, boolean writable) {
        int perm = writable ? ALL : CONSISTENT_READ;
        int shared = CONSISTENT_READ | WRITE_UNCHANGED;   // as QEMU: nobody else writes or resizes the image while we use it
        int fd = Native.libc().open(path.toString(), O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0) {
            throw new IllegalArgumentException("cannot open " + path + " to lock it: " + Native.error("open").getMessage());
        }
        ImageLock l = new ImageLock(path, fd);
        try {
            for (int i = 0; i < NAMES.length; i++) {
                int bit = 1 << i;
                if ((perm & bit) != 0 && l.lockedByOthers(SHARED_BASE + i)) {
                    throw new IllegalStateException("failed to get \"" + NAMES[i] + "\" lock on " + path
                            + ": another process (QEMU?) is using the image and does not share it");
                }
                if ((shared & bit) == 0 && l.lockedByOthers(PERM_BASE + i)) {
                    throw new IllegalStateException("failed to get shared \"" + NAMES[i] + "\" lock on " + path
                            + ": another process (QEMU?) has the image open for " + NAMES[i]);
                }
            }
            for (int i = 0; i < NAMES.length; i++) {
                int bit = 1 << i;
                if ((perm & bit) != 0) {
                    l.set(PERM_BASE + i, F_RDLCK);
                }
                if ((shared & bit) == 0) {
                    l.set(SHARED_BASE + i, F_RDLCK);
                }
            }
            return l;
        } catch (RuntimeException e) {
            l.close();
            throw e;
        }
    }

    private Pointer flock(short type, long start) {
        Pointer p = Memory.allocate(Native.runtime(), 32);
        p.putShort(0, type);
        p.putShort(2, (short) 0);   // SEEK_SET
        p.putLong(8, start);
        p.putLong(16, 1);
        p.putInt(24, 0);
        return p;
    }

    private boolean lockedByOthers(long offset) {
        Pointer p = flock(F_WRLCK, offset);
        if (Native.libc().fcntl(fd, F_OFD_GETLK, p) < 0) {
            throw new IllegalStateException("F_OFD_GETLK on " + path + ": " + Native.error("fcntl").getMessage());
        }
        return p.getShort(0) != F_UNLCK;
    }

    private void set(long offset, short type) {
        if (Native.libc().fcntl(fd, F_OFD_SETLK, flock(type, offset)) < 0) {
            throw new IllegalStateException("cannot lock byte " + offset + " of " + path + ": " + Native.error("fcntl").getMessage()
                    + " (another process is using the image)");
        }
    }

    /** Releases every lock (closing the descriptor releases them). */
    @Override
    public void close() {
        if (Native.libc().close(fd) < 0) {
            log.debug("closing the lock of {}: {}", path, Native.error("close").getMessage());
        }
    }
}
