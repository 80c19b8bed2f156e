package io.jvmm.tests.ivshmem;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.ChildJvm;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.ivshmem.server.IvshmemServer;
import io.jvmm.emulator.Main;
import io.jvmm.tests.kvm.KvmAvailable;
import io.jvmm.tests.kvm.TestGuest;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two freestanding test guests under KVM, in two jvmm processes, each with an ivshmem-doorbell on
 * jvmm's ivshmem server: the guests' {@code ivshmem} mode finds the other through the shared
 * memory and they ring each other's vector 0 in turn, 100 times each (KVM ioeventfds with
 * datamatch for the doorbells); each counts the interrupts it took and writes the count into the
 * shared memory, which this test reads through the server's mapping. Skipped where KVM cannot run
 * a VM. (The same guest mode was checked with two QEMU 7.2 guests under TCG on this server.)
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class KvmIvshmemTestGuestsTest {
    private static final int SLOTS = 0x100;
    private static final int COUNTS = 0x200;
    private static final int PRESENT = 0x49565348;
    private static final int ROUNDS = 100;

    @TempDir
    Path dir;

    @Test
    void twoTestGuestsInTwoJvmmProcessesRingEachOther() {
        KvmAvailable.assume();
        Path socket = dir.resolve("ivshmem.sock");
        try (IvshmemServer server = IvshmemServer.start(socket, SharedMemory.create("kvm-ivshmem", 1 << 20), true, 1,
                IvshmemServer.DEFAULT_MAX_CLIENTS, null);
             ChildJvm a = jvmm(socket);
             ChildJvm b = jvmm(socket)) {
            int statusA = a.awaitExit(Duration.ofMinutes(3));
            int statusB = b.awaitExit(Duration.ofMinutes(3));
            assertEquals(TestGuest.PASS, statusA, "guest A passed:\n" + a.output());
            assertEquals(TestGuest.PASS, statusB, "guest B passed:\n" + b.output());
            ByteBuffer shm = server.memory().slice(0, 4096);
            int present = 0;
            for (int id = 0; id < 64; id++) {
                if (shm.getInt(SLOTS + 4 * id) == PRESENT) {
                    present++;
                    assertEquals(ROUNDS, shm.getInt(COUNTS + 4 * id), "guest " + id + " counted every interrupt");
                }
            }
            assertEquals(2, present, "both guests wrote their slot");
            assertTrue(a.output().contains("ivshmem: exchange PASS") && b.output().contains("ivshmem: exchange PASS"));
        }
    }

    private static ChildJvm jvmm(Path socket) {
        return ChildJvm.start(Main.class, "-m", "256", "-kernel", TestGuest.elf().toString(), "-append", "ivshmem", "-nographic",
                "-device", "isa-debug-exit,iobase=0x501,iosize=2",
                "-chardev", "socket,id=c0,path=" + socket, "-device", "ivshmem-doorbell,id=iv0,chardev=c0,vectors=1");
    }
}
