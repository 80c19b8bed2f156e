package io.jvmm.testkit.driver.fs;

import java.util.ArrayList;
import java.util.List;

/** The INIT capability flags this client knows (fuse.h FUSE_ASYNC_READ ...), and a way to print them. */
public final class FuseInitFlags {
    public static final long ASYNC_READ = 1L;
    public static final long POSIX_LOCKS = 1L << 1;
    public static final long ATOMIC_O_TRUNC = 1L << 3;
    public static final long EXPORT_SUPPORT = 1L << 4;
    public static final long BIG_WRITES = 1L << 5;
    public static final long DONT_MASK = 1L << 6;
    public static final long DO_READDIRPLUS = 1L << 13;
    public static final long READDIRPLUS_AUTO = 1L << 14;
    public static final long WRITEBACK_CACHE = 1L << 16;
    public static final long PARALLEL_DIROPS = 1L << 18;
    public static final long MAX_PAGES = 1L << 22;
    public static final long INIT_EXT = 1L << 30;

    private static final String[] NAMES = {
        "ASYNC_READ", "POSIX_LOCKS", "FILE_OPS", "ATOMIC_O_TRUNC", "EXPORT_SUPPORT", "BIG_WRITES", "DONT_MASK",
        "SPLICE_WRITE", "SPLICE_MOVE", "SPLICE_READ", "FLOCK_LOCKS", "HAS_IOCTL_DIR", "AUTO_INVAL_DATA",
        "DO_READDIRPLUS", "READDIRPLUS_AUTO", "ASYNC_DIO", "WRITEBACK_CACHE", "NO_OPEN_SUPPORT", "PARALLEL_DIROPS",
        "HANDLE_KILLPRIV", "POSIX_ACL", "ABORT_ERROR", "MAX_PAGES", "CACHE_SYMLINKS", "NO_OPENDIR_SUPPORT",
        "EXPLICIT_INVAL_DATA", "MAP_ALIGNMENT", "SUBMOUNTS", "HANDLE_KILLPRIV_V2", "SETXATTR_EXT", "INIT_EXT",
        "INIT_RESERVED", "SECURITY_CTX", "HAS_INODE_DAX",
    };

    private FuseInitFlags() {
    }

    /** "ASYNC_READ|MAX_PAGES|bit40" */
    public static String describe(long flags) {
        List<String> names = new ArrayList<>();
        for (int bit = 0; bit < 64; bit++) {
            if ((flags & (1L << bit)) != 0) {
                names.add(bit < NAMES.length ? NAMES[bit] : "bit" + bit);
            }
        }
        return names.isEmpty() ? "none" : String.join("|", names);
    }
}
