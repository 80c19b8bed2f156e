package io.jvmm.devices.ivshmem;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.testkit.TestMachine;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The experiment switch x-async-setup=on (rule 6 off, QEMU before 2.6): the device exists before
 * the server's setup, so a guest driver that starts at once sees IVPosition -1 and a BAR2 with no
 * memory behind it, and what it writes there is lost. With the rule (the default) the same server
 * gives the id before the device exists (the assertion the first test of {@link IvshmemTwoMachinesTest} makes).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class IvshmemAsyncSetupTest {
    @TempDir
    Path dir;

    /** A server that answers only when the gate opens: id 5, 64 KiB of memory, one eventfd for vector 0. */
    private static ScriptedServer slowServer(Path socket, CountDownLatch gate, SharedMemory memory, EventFd vector0) {
        return new ScriptedServer(socket, c -> {
            try {
                gate.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            IvshmemProtocol.send(c, 0, -1);
            IvshmemProtocol.send(c, 5, -1);
            IvshmemProtocol.send(c, -1, memory.fd());
            IvshmemProtocol.send(c, 5, vector0.fd());
        });
    }

    @Test
    void withTheSwitchTheGuestSeesPositionMinusOneAndLosesItsWrites() throws Exception {
        Path socket = dir.resolve("slow.sock");
        CountDownLatch gate = new CountDownLatch(1);
        try (SharedMemory memory = SharedMemory.create("async", 64 << 10);
             EventFd vector0 = EventFd.create();
             ScriptedServer server = slowServer(socket, gate, memory, vector0);
             TestMachine m = TestMachine.builder()
                     .option("-chardev", "socket,id=c0,path=" + socket)
                     .device("ivshmem-doorbell,id=iv0,chardev=c0,x-async-setup=on,size=64K")
                     .build()) {
            IvshmemGuest g = new IvshmemGuest(m);
            assertEquals(-1, g.position(), "the half-realised device: IVPosition -1 (what QEMU's guests once saw)");
            g.writeMem(0x100, 4, 0xDEADBEEFL);
            assertEquals(0, g.readMem(0x100, 4), "BAR2 has no memory behind it yet");
            gate.countDown();
            Await.until(() -> g.position() == 5, "the setup ended after the guest had started");
            assertEquals(0, memory.slice(0, 4096).getInt(0x100), "the guest's early write was lost");
            IvshmemDoorbellDevice d = (IvshmemDoorbellDevice) m.pciDevice("iv0");
            assertEquals(1, d.metrics().lostWritesCount(), "and counted");
            g.writeMem(0x104, 4, 0x600D);
            assertEquals(0x600D, memory.slice(0, 4096).getInt(0x104), "writes after the setup reach the memory");
            assertNull(server.failure());
        }
    }

    @Test
    void withoutTheSwitchTheSameServerGivesTheIdBeforeTheDeviceExists() throws Exception {
        Path socket = dir.resolve("slow2.sock");
        CountDownLatch gate = new CountDownLatch(0);   // answers at once: the build waits for it
        try (SharedMemory memory = SharedMemory.create("sync", 64 << 10);
             EventFd vector0 = EventFd.create();
             ScriptedServer server = slowServer(socket, gate, memory, vector0);
             TestMachine m = TestMachine.builder()
                     .option("-chardev", "socket,id=c0,path=" + socket)
                     .device("ivshmem-doorbell,id=iv0,chardev=c0")
                     .build()) {
            IvshmemGuest g = new IvshmemGuest(m);
            assertEquals(5, g.position(), "IVPosition is the server's id the moment the guest can read it");
            g.writeMem(0x100, 4, 0xDEADBEEFL);
            assertEquals(0xDEADBEEF, memory.slice(0, 4096).getInt(0x100), "and BAR2 is the server's memory");
            assertNull(server.failure());
        }
    }
}
