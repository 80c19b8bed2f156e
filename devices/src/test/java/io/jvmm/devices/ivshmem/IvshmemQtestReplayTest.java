package io.jvmm.devices.ivshmem;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.ivshmem.server.IvshmemServer;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.pci.MsixDriver;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * QEMU's own checks of its ivshmem device (tests/qtest/ivshmem-test.c: single, pair, memdev,
 * server), replayed against ours on the no-CPU machine with the same command lines: what guests
 * written for QEMU rely on.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class IvshmemQtestReplayTest {
    private static final int TMPSHMSIZE = 1 << 20;

    @TempDir
    Path dir;

    private TestMachine plain(Path shm) {
        return TestMachine.builder()
                .option("-object", "memory-backend-file,id=mb1,size=1M,share=on,mem-path=" + shm)
                .device("ivshmem-plain,memdev=mb1")
                .build();
    }

    private static MappedByteBuffer map(Path shm) throws Exception {
        try (FileChannel ch = FileChannel.open(shm, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MappedByteBuffer b = ch.map(FileChannel.MapMode.READ_WRITE, 0, TMPSHMSIZE);
            b.order(java.nio.ByteOrder.LITTLE_ENDIAN);
            return b;
        }
    }

    /** /ivshmem/single. */
    @Test
    void single() throws Exception {
        Path shm = dir.resolve("qtest-shm");
        try (TestMachine m = plain(shm)) {
            IvshmemGuest s = new IvshmemGuest(m);
            assertEquals(256, s.regs.size(), "BAR0 is 256 bytes");
            assertEquals(TMPSHMSIZE, s.mem.size(), "BAR2 is the memdev");
            assertEquals(0x050000, s.fn.classCode() & 0xffffff, "class: memory controller, RAM");

            assertEquals(0, s.in(IvshmemGuest.INTRMASK));
            assertEquals(0, s.in(IvshmemGuest.INTRSTATUS));
            assertEquals(0, s.in(IvshmemGuest.IVPOSITION));

            s.out(IvshmemGuest.INTRMASK, 0xffffffffL);
            assertEquals(0xffffffffL, s.in(IvshmemGuest.INTRMASK));
            s.out(IvshmemGuest.INTRSTATUS, 1);
            assertEquals(1, s.in(IvshmemGuest.INTRSTATUS));
            assertEquals(0, s.in(IvshmemGuest.INTRSTATUS), "reading clears");

            s.out(IvshmemGuest.IVPOSITION, 1);
            assertEquals(0, s.in(IvshmemGuest.IVPOSITION), "IVPosition ignores writes");
            assertEquals(0, s.in(IvshmemGuest.DOORBELL), "the doorbell reads 0");
            s.out(IvshmemGuest.DOORBELL, 8 << 16);   // the non-functional doorbell: ignored

            for (int i = 0; i < 1024; i++) {
                s.writeMem(4L * i, 4, i);
            }
            MappedByteBuffer host = map(shm);
            for (int i = 0; i < 1024; i++) {
                assertEquals(i, host.getInt(4 * i), "the guest's write is in the file");
            }
            for (int i = 0; i < 1024; i++) {
                assertEquals(i, s.readMem(4L * i, 4), "and reads back");
            }
        }
    }

    /** /ivshmem/pair: two machines on the same memory-backend-file. */
    @Test
    void pair() throws Exception {
        Path shm = dir.resolve("qtest-pair");
        try (TestMachine m1 = plain(shm); TestMachine m2 = plain(shm)) {
            IvshmemGuest s1 = new IvshmemGuest(m1);
            IvshmemGuest s2 = new IvshmemGuest(m2);
            MappedByteBuffer host = map(shm);
            for (int i = 0; i < TMPSHMSIZE; i++) {
                host.put(i, (byte) 0x42);
            }
            assertFilled(s1, 0x42, "host write, guest 1 reads");
            assertFilled(s2, 0x42, "host write, guest 2 reads");
            fill(s1, 0x43);
            assertFilled(s2, 0x43, "guest 1 writes, guest 2 reads");
            fill(s2, 0x44);
            assertFilled(s1, 0x44, "guest 2 writes, guest 1 reads");
        }
    }

    /** /ivshmem/memdev: a memfd back-end (QEMU's test uses memory-backend-ram, which jvmm does not have: its memory is always shared). */
    @Test
    void memdev() {
        try (TestMachine m = TestMachine.builder().option("-object", "memory-backend-memfd,id=mb1,size=1M,share=on")
                .device("ivshmem-plain,memdev=mb1").build()) {
            IvshmemGuest s = new IvshmemGuest(m);
            assertEquals(TMPSHMSIZE, s.mem.size());
        }
    }

    /** /ivshmem/server: two machines through an ivshmem server with 2 vectors, MSI-X enabled (vectors left masked). */
    @Test
    void server() {
        Path socket = dir.resolve("server");
        try (IvshmemServer server = IvshmemServer.start(socket, SharedMemory.create("qtest", TMPSHMSIZE), true, 2,
                IvshmemServer.DEFAULT_MAX_CLIENTS, null);
             TestMachine m1 = IvshmemTwoMachinesTest.machine(socket, 2);
             TestMachine m2 = IvshmemTwoMachinesTest.machine(socket, 2)) {
            IvshmemGuest s1 = new IvshmemGuest(m1);
            IvshmemGuest s2 = new IvshmemGuest(m2);
            int vm1 = s1.position();
            int vm2 = s2.position();
            assertTrue(vm1 >= 0);
            assertTrue(vm2 >= 0);
            assertNotEquals(vm1, vm2);

            MsixDriver x1 = s1.msix();
            MsixDriver x2 = s2.msix();
            assertEquals(2, x1.vectorCount(), "MSI-X table size equals vectors");
            enableOnly(s1);
            enableOnly(s2);
            IvshmemDoorbellDevice d1 = IvshmemTwoMachinesTest.device(m1);
            IvshmemDoorbellDevice d2 = IvshmemTwoMachinesTest.device(m2);
            Await.until(() -> d2.peerVectors(vm1) == 2 && d1.peerVectors(vm2) == 2 && d1.peerVectors(vm1) == 2
                    && d2.peerVectors(vm2) == 2, "each knows the other's eventfds and its own");

            assertFalse(x1.isPending(0));
            s2.out(IvshmemGuest.DOORBELL, (long) vm1 << 16);
            Await.until(() -> x1.isPending(0), "ping vm2 -> vm1 on vector 0");

            assertFalse(x2.isPending(1));
            s1.out(IvshmemGuest.DOORBELL, (long) vm2 << 16 | 1);
            Await.until(() -> x2.isPending(1), "ping vm1 -> vm2 on vector 1");
        }
    }

    /** libqos's qpci_msix_enable: only the enable bit; the vectors keep their reset mask, so a ping shows as a pending bit. */
    private static void enableOnly(IvshmemGuest s) {
        int cap = s.fn.findCapability(0x11).orElseThrow().offset();
        s.fn.write16(cap + 2, s.fn.read16(cap + 2) | 0x8000);
    }

    private static void fill(IvshmemGuest s, int b) {
        long v = (b & 0xffL) * 0x0101_0101_0101_0101L;
        for (int i = 0; i < TMPSHMSIZE; i += 8) {
            s.writeMem(i, 8, v);
        }
    }

    private static void assertFilled(IvshmemGuest s, int b, String what) {
        long v = (b & 0xffL) * 0x0101_0101_0101_0101L;
        for (int i = 0; i < TMPSHMSIZE; i += 8) {
            if (s.readMem(i, 8) != v) {
                fail(what + ": byte " + i + " reads 0x" + Long.toHexString(s.readMem(i, 8)));
            }
        }
    }
}
