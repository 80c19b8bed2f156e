package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.jvmm.chardev.nativ.Native;
import org.junit.jupiter.api.Test;

class NativeExceptionTest {

    @Test
    void messageNamesCallErrnoAndDescription() {
        NativeException e = new NativeException("memfd_create(\"guest-ram\", MFD_CLOEXEC)", 24);
        assertEquals("memfd_create(\"guest-ram\", MFD_CLOEXEC): EMFILE (Too many open files)", e.getMessage());
        assertEquals("memfd_create(\"guest-ram\", MFD_CLOEXEC)", e.call());
        assertEquals(24, e.errno());
        assertEquals("EMFILE", e.errnoName());
    }

    @Test
    void unknownErrnoIsStillReadable() {
        NativeException e = new NativeException("frob()", 4000);
        assertEquals("errno 4000", e.errnoName());
        assertEquals("frob(): errno 4000", e.getMessage());
    }

    @Test
    void failingCallReportsItsOwnErrno() {
        // close(-1) fails with EBADF; a successful call in between must not be what we report.
        NativeException e = assertThrows(NativeException.class,
                () -> Native.check(Native.libc().close(-1), "close(-1)"));
        assertEquals("EBADF", e.errnoName());
        assertEquals("close(-1)", e.call());
    }
}
