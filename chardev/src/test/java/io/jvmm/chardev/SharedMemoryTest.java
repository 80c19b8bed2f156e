package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SharedMemoryTest {
    private static final long GIB = 1L << 30;

    @Test
    void createdMemoryIsZeroedLittleEndianAndShapedAsAsked() {
        try (SharedMemory mem = SharedMemory.create("small", 8192)) {
            assertEquals("small", mem.name());
            assertEquals(8192, mem.size());
            assertEquals(0, mem.fdOffset());
            assertEquals(1, mem.windowCount());
            assertNotEquals(0, mem.address());
            assertTrue(Fds.describe(mem.fd()).startsWith("/memfd:small"), Fds.describe(mem.fd()));
            ByteBuffer w = mem.window(0);
            assertEquals(8192, w.capacity());
            assertEquals(ByteOrder.LITTLE_ENDIAN, w.order());
            assertEquals(0L, w.getLong(4000));
            assertSame(w, mem.window(0), "windows are cached");
            w.putInt(16, 0x11223344);
            assertEquals(0x44, w.get(16), "little-endian: low byte first");
            ByteBuffer s = mem.slice(16, 4);
            assertEquals(ByteOrder.LITTLE_ENDIAN, s.order());
            assertEquals(0x11223344, s.getInt(0));
            s.putInt(0, 0x55667788);
            assertEquals(0x55667788, w.getInt(16), "slices are zero-copy views");
        }
    }

    @Test
    void sliceAndWindowBoundsAreChecked() {
        try (SharedMemory mem = SharedMemory.create("bounds", 4096)) {
            assertEquals(4096, mem.slice(0, 4096).capacity());
            assertEquals(0, mem.slice(4096, 0).capacity());
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> mem.slice(4000, 100));
            assertTrue(e.getMessage().contains("4000") && e.getMessage().contains("100")
                    && e.getMessage().contains("4096"), e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> mem.slice(-1, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> mem.slice(0, -1));
            assertThrows(IndexOutOfBoundsException.class, () -> mem.slice(Long.MAX_VALUE, 10));
            assertThrows(IndexOutOfBoundsException.class, () -> mem.window(1));
            assertThrows(IndexOutOfBoundsException.class, () -> mem.window(-1));
            assertThrows(IndexOutOfBoundsException.class, () -> mem.window(0).getInt(4094),
                    "a window never reaches past the region");
        }
    }

    @Test
    void badArgumentsAreClearErrors() {
        assertThrows(IllegalArgumentException.class, () -> SharedMemory.create("zero", 0));
        assertThrows(IllegalArgumentException.class, () -> SharedMemory.create("negative", -4096));
        NativeException tooBig = assertThrows(NativeException.class, () -> SharedMemory.create("too-big", 1L << 62));
        assertTrue(tooBig.getMessage().contains("too-big"), tooBig.getMessage());
        NativeException badFd = assertThrows(NativeException.class, () -> SharedMemory.map(99999, 0, 4096, false));
        assertEquals("EBADF", badFd.errnoName());
        assertTrue(badFd.getMessage().startsWith("mmap("), badFd.getMessage());
        try (SharedMemory mem = SharedMemory.create("misaligned", 8192)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> SharedMemory.map(mem.fd(), 100, 4096, false));
            assertTrue(e.getMessage().contains("offset 100"), e.getMessage());
        }
    }

    @Test
    void mapAtAnOffsetSeesTheRightBytes() {
        // The offset is mmap's sixth argument, the one jnr-ffi bug #181 garbles when all six are numeric.
        try (SharedMemory mem = SharedMemory.create("peer", 4 * 4096)) {
            mem.window(0).putLong(2 * 4096 + 8, 0xCAFEBABEDEADBEEFL);
            try (SharedMemory view = SharedMemory.map(mem.fd(), 2 * 4096, 4096, false)) {
                assertEquals(2 * 4096, view.fdOffset());
                assertEquals(0xCAFEBABEDEADBEEFL, view.window(0).getLong(8));
                view.window(0).putInt(0, 7);
                assertEquals(7, mem.window(0).getInt(2 * 4096), "both mappings share the memory");
            }
            assertEquals(7, mem.window(0).getInt(2 * 4096), "closing a non-owning mapping leaves the fd open");
        }
    }

    @Test
    void mapTakingOwnershipClosesTheFd() {
        try (SharedMemory mem = SharedMemory.create("owned", 4096)) {
            OpenFiles.Identity memfd = OpenFiles.identity(mem.fd());
            int dup = Fds.dup(mem.fd());
            SharedMemory view = SharedMemory.map(dup, 0, 4096, true);
            view.close();
            OpenFiles.assertOnlyOpenAs(memfd, "closing an owning mapping closes its fd", mem.fd());
            int dup2 = Fds.dup(mem.fd());
            assertThrows(IllegalArgumentException.class, () -> SharedMemory.map(dup2, 1, 4096, true));
            OpenFiles.assertOnlyOpenAs(memfd, "a failed map that took ownership closes the fd", mem.fd());
        }
    }

    @Test
    void moreThanTwoGibibytesWorkThroughWindowsAndSlices() {
        long size = 3 * GIB + 3 * 4096 + 123;
        try (SharedMemory mem = SharedMemory.create("guest-ram-3g", size)) {
            assertEquals(4, mem.windowCount());
            assertEquals(GIB, mem.window(2).capacity());
            assertEquals(size - 3 * GIB, mem.window(3).capacity());

            mem.window(2).putLong(123_456, 0x0102030405060708L);              // 2 GiB + 123456
            mem.window(3).putInt((int) (size - 3 * GIB) - 4, 0x7A7B7C7D);        // the last 4 bytes
            mem.slice(2 * GIB + GIB / 2, 8).putLong(0, 0x1122334455667788L);    // 2.5 GiB
            ByteBuffer straddle = mem.slice(3 * GIB - 4, 8);                      // across windows 2 and 3
            straddle.putLong(0, 0xAABBCCDDEEFF0011L);

            try (SharedMemory second = SharedMemory.map(mem.fd(), 0, size, false)) {
                assertNotEquals(mem.address(), second.address());
                assertEquals(0x0102030405060708L, second.slice(2 * GIB + 123_456, 8).getLong(0));
                assertEquals(0x7A7B7C7D, second.slice(size - 4, 4).getInt(0));
                assertEquals(0x1122334455667788L, second.window(2).getLong((int) (GIB / 2)));
                assertEquals(0xEEFF0011, second.window(2).getInt((int) GIB - 4));
                assertEquals(0xAABBCCDD, second.window(3).getInt(0));
            }
            // A page-aligned offset beyond 2 GiB (needs a 64-bit sixth mmap argument).
            try (SharedMemory high = SharedMemory.map(mem.fd(), 2 * GIB + GIB / 2, 4096, false)) {
                assertEquals(0x1122334455667788L, high.window(0).getLong(0));
            }
        }
    }

    @Test
    void closedMemoryRefusesAccess() {
        SharedMemory mem = SharedMemory.create("closed", 4096);
        OpenFiles.Identity memfd = OpenFiles.identity(mem.fd());   // a memfd's inode is not reused
        mem.close();
        mem.close();
        assertTrue(mem.isClosed());
        assertThrows(IllegalStateException.class, () -> mem.slice(0, 8));
        assertThrows(IllegalStateException.class, () -> mem.window(0));
        assertThrows(IllegalStateException.class, mem::address);
        assertThrows(IllegalStateException.class, mem::fd);
        OpenFiles.assertOnlyOpenAs(memfd, "owned fd is closed");
    }

    @Test
    void guardsOfClosedRegionsAreReleasedOnceNoBufferReachesThemAndNotBefore() {
        long before = SharedMemory.guardedBytes();
        long region = 256L << 20;
        // A slice derived from a window keeps its region's guard; the regions nobody reaches go.
        SharedMemory kept = SharedMemory.create("kept", region);
        long keptAt = kept.address();
        ByteBuffer[] held = {kept.slice(4096, 64)};
        kept.close();
        long vmBefore = GuardMaps.vmSizeBytes();
        for (int i = 0; i < 64; i++) {   // 16 GiB mapped and closed in turn
            try (SharedMemory mem = SharedMemory.create("churn-" + i, region)) {
                mem.slice(i * 4096L, 8).putLong(0, i);
                mem.slice(region - 8, 8).putLong(0, i);
            }
        }
        Await.until(() -> {
            System.gc();
            return SharedMemory.guardedBytes() - before <= region && GuardMaps.vmSizeBytes() - vmBefore <= region;
        }, java.time.Duration.ofSeconds(30), () -> "guards to be released: " + (SharedMemory.guardedBytes() - before)
                + " bytes still guarded, VmSize grew by " + (GuardMaps.vmSizeBytes() - vmBefore) + " after 64 regions of "
                + region + " bytes");
        assertTrue(GuardMaps.guards(keptAt), "the region a slice still reaches keeps its guard");
        held[0] = null;
        Await.until(() -> {
            System.gc();
            return !GuardMaps.guards(keptAt);
        }, java.time.Duration.ofSeconds(30), () -> "the guard of the region no buffer reaches any more to be released");
    }

    @Test
    void staleBufferAfterCloseFaultsInsteadOfCrashingTheJvm() {
        try (ChildJvm child = ChildJvm.start(StaleBufferChild.class)) {
            assertEquals(3, child.awaitExit(java.time.Duration.ofSeconds(30)),
                    () -> "expected an InternalError (exit 3); output:\n" + child.output());
        }
    }
}
