package io.jvmm.chardev.nativ;

import jnr.ffi.Pointer;
import jnr.ffi.annotations.Variadic;
import jnr.ffi.byref.LongLongByReference;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The raw libc functions jvmm calls, bound by jnr-ffi. Everything here returns the C result
 * unchanged (-1 and errno on failure); {@link Native} turns failures into exceptions.
 *
 * <p>Binding rules learnt the hard way (see PLATFORM-NOTES.md): a function whose six
 * parameters are all numeric gets a garbage sixth argument (jnr-ffi bug #181), so every
 * six-parameter binding has a {@link Pointer} among its parameters; ioctl requests are
 * {@code long} (glibc's {@code unsigned long}). Buffers are passed as raw addresses
 * ({@code long}) where the caller already holds native memory, which avoids copying.
 */
public interface LibC {

    // --- file descriptors -------------------------------------------------------------

    int close(int fd);

    @Variadic(fixedCount = 2)
    int fcntl(int fd, int cmd, int arg);

    @ssize_t long read(int fd, long bufAddress, @size_t long count);

    @ssize_t long write(int fd, long bufAddress, @size_t long count);

    int ftruncate(int fd, @off_t long length);

    long sysconf(int name);

    // --- eventfd ----------------------------------------------------------------------

    int eventfd(int initval, int flags);

    int eventfd_read(int fd, LongLongByReference value);

    int eventfd_write(int fd, long value);

    // --- memfd / mmap -----------------------------------------------------------------

    int memfd_create(String name, int flags);

    /** addr is a Pointer (pass null) because of jnr-ffi bug #181; returns MAP_FAILED (-1) on error. */
    long mmap(Pointer addr, @size_t long length, int prot, int flags, int fd, @off_t long offset);

    int munmap(long addr, @size_t long length);
}
