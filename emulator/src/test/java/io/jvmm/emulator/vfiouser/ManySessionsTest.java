package io.jvmm.emulator.vfiouser;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.GuardMaps;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.rng.RngDevice;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Resources do not pile up across vfio-user client sessions: 60 clients in turn each hand the
 * server 512 MiB of "RAM" (a memfd, DMA_MAP with the fd, as QEMU does), read the device's config
 * space through it and leave. Each closed mapping first becomes a guard (a stale buffer faults
 * instead of crashing the JVM), and the guard goes once no buffer can reach it: the address space
 * the process holds in guards (read from /proc/self/maps and VmSize, not only from our own counter) ends within
 * two sessions' worth, where it used to grow by each session's whole mapping (30 GiB here).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ManySessionsTest {
    private static final int SESSIONS = 60;
    private static final long RAM = 512L << 20;
    private static final Logger log = LoggerFactory.getLogger(ManySessionsTest.class);

    @TempDir
    Path dir;

    @Test
    void guardMappingsOfClosedSessionsAreReleased() throws Exception {
        Path socket = dir.resolve("rng.sock");
        long before = GuardMaps.guardedBytes();
        long counterBefore = SharedMemory.guardedBytes();
        long vmBefore = GuardMaps.vmSizeBytes();
        long vmPeak = vmBefore;
        try (SharedMemory ram = SharedMemory.create("client-ram", RAM)) {
            ServedDevice device = ServedDevice.virtio(new RngDevice("rng0"));
            try (VfioUserServer server = VfioUserServer.start(socket, device, VfioUserServer.Options.defaults())) {
                for (int i = 0; i < SESSIONS; i++) {
                    try (RawClient c = RawClient.negotiated(socket)) {
                        assertFalse(c.dmaMap(0, RAM, 0, 3, ram.fd()).isError(), "session " + i + ": DMA_MAP");
                        assertFalse(c.regionRead(PciRegions.CONFIG, 0, 4).isError(), "session " + i + ": config read");
                    }
                    int done = i + 1;
                    Await.until(() -> server.clientsAccepted() >= done && server.clientDma().isEmpty(),
                            "session " + done + " to be cleaned up");
                    vmPeak = Math.max(vmPeak, GuardMaps.vmSizeBytes());
                }
            } finally {
                device.close();
            }
        }
        Await.until(() -> {
            System.gc();
            return GuardMaps.guardedBytes() - before <= 2 * RAM && GuardMaps.vmSizeBytes() - vmBefore <= 2 * RAM;
        }, Duration.ofSeconds(60), () -> "guards of closed client memory to be released: " + (GuardMaps.guardedBytes() - before)
                + " bytes still guarded after " + SESSIONS + " sessions of " + RAM + " bytes (SharedMemory.guardedBytes "
                + SharedMemory.guardedBytes() + ", VmSize grew by " + (GuardMaps.vmSizeBytes() - vmBefore) + ")");
        // While sessions come and go, a close asks for a collection once 4 GiB of guards piled up,
        // so the address space stays bounded without anybody calling System.gc(): within twice that
        // (the cleaner runs behind the sessions on a loaded host), a third of the 30 GiB it took before.
        assertTrue(vmPeak - vmBefore <= 2 * (4L << 30) + 4 * RAM, "VmSize grew by " + ((vmPeak - vmBefore) >> 20)
                + " MiB during the sessions");
        long counted = SharedMemory.guardedBytes() - counterBefore;
        assertTrue(counted <= 2 * RAM, "the counter agrees: " + counted);
        log.info("{} sessions of {} MiB: VmSize {} MiB before, at most {} MiB during, {} MiB after; guards {} MiB in maps"
                        + " (without the release: {} MiB)", SESSIONS, RAM >> 20, vmBefore >> 20, vmPeak >> 20,
                GuardMaps.vmSizeBytes() >> 20, (GuardMaps.guardedBytes() - before) >> 20, (SESSIONS * RAM) >> 20);
    }
}
