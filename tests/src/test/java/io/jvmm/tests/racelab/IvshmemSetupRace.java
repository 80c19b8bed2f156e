package io.jvmm.tests.racelab;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.ivshmem.server.IvshmemServer;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.pci.Bar;
import io.jvmm.testkit.driver.pci.PciFunction;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Race (d)'s ivshmem half: a guest driver that starts the moment ivshmem-doorbell exists, against
 * jvmm's own ivshmem server (no delay added). By default the device finishes the server's setup
 * inside its build (rule 6), so the driver reads its IVPosition and writes into the shared
 * memory; with {@code x-async-setup=on} (QEMU before 2.6) the device may exist first, and the
 * driver reads IVPosition -1 or writes into a BAR2 with no memory behind it. A run is lost when
 * either happens.
 */
public final class IvshmemSetupRace {
    private static final int MARK = 0x600DF00D;

    private IvshmemSetupRace() {
    }

    /** {@code runs} machines, each read and written once at once; returns how many runs were lost. */
    public static int lostRuns(Path dir, boolean asyncSetup, int runs) throws Exception {
        int lost = 0;
        for (int i = 0; i < runs; i++) {
            Path socket = dir.resolve("iv" + i + ".sock");
            try (IvshmemServer server = IvshmemServer.start(socket, SharedMemory.create("racelab-iv" + i, 64 << 10), true, 1,
                    IvshmemServer.DEFAULT_MAX_CLIENTS, null);
                 TestMachine m = TestMachine.builder().option("-chardev", "socket,id=c0,path=" + socket)
                         .device("ivshmem-doorbell,id=iv0,chardev=c0,vectors=1" + (asyncSetup ? ",x-async-setup=on,size=64K" : ""))
                         .build()) {
                Guest guest = Guest.of(m);
                PciFunction fn = guest.enumerate().stream().filter(f -> f.vendorId() == 0x1af4 && f.deviceId() == 0x1110).findFirst()
                        .orElseThrow();
                List<Bar> bars = guest.bars().assign(fn);
                long regs = bars.stream().filter(b -> b.index() == 0).findFirst().orElseThrow().address();
                long mem = bars.stream().filter(b -> b.index() == 2).findFirst().orElseThrow().address();
                int position = (int) guest.cpu().readMmio(regs + 8, 4);
                guest.cpu().writeMmio(mem + 64, 4, MARK);
                boolean written = server.memory().slice(0, 4096).getInt(64) == MARK;
                if (position < 0 || !written) {
                    lost++;
                }
                // let a late set-up finish before the machine closes under it
                Await.until(() -> (int) guest.cpu().readMmio(regs + 8, 4) >= 0, "ivshmem-doorbell's set-up by the server");
            } finally {
                Files.deleteIfExists(socket);
            }
        }
        return lost;
    }
}
