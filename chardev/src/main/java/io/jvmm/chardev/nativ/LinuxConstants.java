package io.jvmm.chardev.nativ;

/** Linux x86-64 ABI constants jvmm needs (values from the kernel/glibc headers). */
public final class LinuxConstants {
    private LinuxConstants() {
    }

    // <sys/eventfd.h>
    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = 0x800;

    // <sys/mman.h>
    public static final int MFD_CLOEXEC = 0x1;
    public static final int MFD_ALLOW_SEALING = 0x2;
    public static final int PROT_NONE = 0x0;
    public static final int PROT_READ = 0x1;
    public static final int PROT_WRITE = 0x2;
    public static final int MAP_SHARED = 0x01;
    public static final int MAP_PRIVATE = 0x02;
    public static final int MAP_FIXED = 0x10;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_NORESERVE = 0x4000;
    public static final long MAP_FAILED = -1L;

    // <fcntl.h>
    public static final int F_DUPFD_CLOEXEC = 1030;
    public static final int F_GETFD = 1;
    public static final int F_SETFD = 2;
    public static final int F_GETFL = 3;
    public static final int F_SETFL = 4;
    public static final int FD_CLOEXEC = 1;
    public static final int O_NONBLOCK = 0x800;

    // <unistd.h>
    public static final int SC_PAGESIZE = 30;
}
