package io.jvmm.devices.ivshmem;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.ivshmem.server.IvshmemServer;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.pci.MsixDriver;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two no-CPU machines, each with an ivshmem-doorbell, through our ivshmem server: ids known the
 * moment the device is built (rule 6), doorbells raising exactly the named vector, masking (rule
 * 2), shared bytes, a peer's departure.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class IvshmemTwoMachinesTest {
    @TempDir
    Path dir;

    static TestMachine machine(Path socket, int vectors) {
        return TestMachine.builder()
                .option("-chardev", "socket,id=c0,path=" + socket)
                .device("ivshmem-doorbell,id=iv0,chardev=c0,vectors=" + vectors)
                .build();
    }

    static IvshmemDoorbellDevice device(TestMachine m) {
        return (IvshmemDoorbellDevice) m.pciDevice("iv0");
    }

    @Test
    void twoMachinesRingEachOtherAndShareMemoryThroughOurServer() {
        Path socket = dir.resolve("ivshmem.sock");
        try (IvshmemServer server = IvshmemServer.start(socket, SharedMemory.create("ivshmem-test", 1 << 20), true, 2,
                IvshmemServer.DEFAULT_MAX_CLIENTS, null);
             TestMachine a = machine(socket, 2)) {
            IvshmemGuest ga = new IvshmemGuest(a);
            int idA = ga.position();
            assertTrue(idA >= 0, "A's IVPosition is its id the moment the device exists: " + idA);
            IvshmemGuest gb;
            int idB;
            try (TestMachine b = machine(socket, 2)) {
                gb = new IvshmemGuest(b);
                idB = gb.position();
                assertTrue(idB >= 0, "B's IVPosition is its id the moment the device exists: " + idB);
                assertNotEquals(idA, idB, "distinct ids");
                assertEquals(1 << 20, gb.mem.size(), "BAR2 is the server's memory");
                assertEquals(256, gb.regs.size(), "BAR0 is 256 bytes");

                IvshmemDoorbellDevice da = device(a);
                IvshmemDoorbellDevice db = device(b);
                Await.until(() -> da.peerVectors(idB) == 2 && db.peerVectors(idB) == 2 && db.peerVectors(idA) == 2,
                        "A holds B's two eventfds, B its own and A's");

                MsixDriver msixB = gb.msix();
                assertEquals(2, msixB.vectorCount());
                MsiMessage b0 = gb.guest.interrupts().allocateMessage();
                MsiMessage b1 = gb.guest.interrupts().allocateMessage();
                msixB.enable(List.of(b0, b1));

                ga.ring(idB, 1);
                assertTrue(gb.guest.interrupts().awaitMoreThan(b1, 0, Await.HANG_GUARD), "A's doorbell raised B's vector 1");
                Await.stays(() -> gb.guest.interrupts().count(b0) == 0 && gb.guest.interrupts().count(b1) == 1,
                        "exactly vector 1, once");

                msixB.mask(1);
                ga.ring(idB, 1);
                ga.ring(idB, 1);
                Await.until(() -> db.metrics().interruptsCount() == 3, "B's device took both signals");
                assertTrue(msixB.isPending(1), "a doorbell while B masks vector 1 sets its PBA bit");
                assertEquals(1, gb.guest.interrupts().count(b1), "and delivers nothing while masked");
                msixB.unmask(1);
                assertTrue(gb.guest.interrupts().awaitMoreThan(b1, 1, Await.HANG_GUARD), "unmask delivers it");
                Await.stays(() -> gb.guest.interrupts().count(b1) == 2 && !msixB.isPending(1), "once, and the PBA bit is clear");

                ga.ring(idB, 0);
                assertTrue(gb.guest.interrupts().awaitMoreThan(b0, 0, Await.HANG_GUARD), "vector 0 too");

                for (int i = 0; i < 256; i++) {
                    ga.writeMem(4096L * i + 8, 8, 0x1122_3344_5566_0000L + i);
                }
                ByteBuffer host = server.memory().slice(0, 1 << 20);
                for (int i = 0; i < 256; i++) {
                    assertEquals(0x1122_3344_5566_0000L + i, gb.readMem(4096L * i + 8, 8), "A's write read through B's BAR2");
                    assertEquals(0x1122_3344_5566_0000L + i, host.getLong(4096 * i + 8), "and through the server's mapping");
                }
                host.putInt(0x80000, 0xC0FFEE);
                gb.writeMem(0x80004, 4, 0xBEEF);
                assertEquals(0xC0FFEE, ga.readMem(0x80000, 4), "the server's write read by A");
                assertEquals(0xBEEF, ga.readMem(0x80004, 4), "B's write read by A");
                assertEquals(2, server.clients().size(), "the server's view: two clients");
            }
            IvshmemDoorbellDevice da = device(a);
            Await.until(() -> !da.peerIds().contains(idB), "A saw B leave");
            double before = da.metrics().doorbellsDroppedCount();
            ga.ring(idB, 0);
            assertEquals(before + 1, da.metrics().doorbellsDroppedCount(), "a doorbell to the departed peer is counted and dropped");
            Await.until(() -> server.clients().size() == 1, "the server's view: one client");
        }
    }

    @Test
    void aGuestCanRingItselfAndADoorbellWithMsixDisabledIsDroppedAsInQemu() {
        Path socket = dir.resolve("self.sock");
        try (IvshmemServer server = IvshmemServer.start(socket, SharedMemory.create("ivshmem-self", 64 << 10), true, 1,
                IvshmemServer.DEFAULT_MAX_CLIENTS, null);
             TestMachine a = machine(socket, 1)) {
            IvshmemGuest g = new IvshmemGuest(a);
            IvshmemDoorbellDevice d = device(a);
            int id = g.position();
            Await.until(() -> d.peerVectors(id) == 1, "our own eventfd arrived");
            g.ring(id, 0);
            Await.until(() -> d.metrics().interruptsCount() == 1, "the doorbell reached our own eventfd");
            MsixDriver msix = g.msix();
            assertFalse(msix.isEnabled());
            assertFalse(msix.isPending(0), "MSI-X disabled: dropped, not pending (QEMU's behaviour)");
            MsiMessage m0 = g.guest.interrupts().allocateMessage();
            msix.enable(List.of(m0));
            g.ring(id, 0);
            assertTrue(g.guest.interrupts().awaitMoreThan(m0, 0, Await.HANG_GUARD), "with MSI-X on, ringing ourselves interrupts us");
            g.ring(id, 5);
            g.ring(id + 1, 0);
            assertEquals(2, d.metrics().doorbellsDroppedCount(), "an unknown vector and an unknown peer: counted and dropped");
        }
    }

    @Test
    void eventfdsForVectorsBeyondOursAreClosedAndCounted() {
        Path socket = dir.resolve("extra.sock");
        try (IvshmemServer server = IvshmemServer.start(socket, SharedMemory.create("ivshmem-extra", 64 << 10), true, 3,
                IvshmemServer.DEFAULT_MAX_CLIENTS, null);
             TestMachine a = machine(socket, 1)) {
            IvshmemDoorbellDevice d = device(a);
            int id = new IvshmemGuest(a).position();
            Await.until(() -> d.metrics().extraEventFdsCount() == 2, "the server's eventfds for our vectors 1 and 2 were closed");
            assertEquals(1, d.peerVectors(id), "vector 0 is connected");
            assertEquals(1, server.clients().size());
        }
    }
}
