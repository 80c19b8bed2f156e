package io.jvmm.tests.fs;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.devices.rng.RngDevice;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.fs.FsProtocol;
import io.jvmm.testkit.driver.fs.FuseClient;
import io.jvmm.testkit.driver.fs.VirtioFsDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.devices.fs.VhostUserFsDevice;
import io.jvmm.devices.fs.VhostUserFsOptions;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A no-CPU machine with jvmm's vhost-user-fs-pci served by a real virtiofsd, and the guest's
 * virtio-fs driver and FUSE client on it; an in-process virtio-rng beside it is the "other
 * device" that must keep working whatever happens to virtiofsd.
 */
final class VirtiofsdBed implements AutoCloseable {
    static final long RAM = 256L << 20;
    static final String TAG = "jvmmfs";
    /** QEMU 7.2's virtiofsd serves the high-priority queue and one request queue. */
    static final int REQUEST_QUEUES = 1;
    static final Duration DRIVER_TIMEOUT = Duration.ofSeconds(20);

    final Virtiofsd virtiofsd;
    final TestMachine machine;
    final Guest guest;
    final VirtioFsDriver fs;
    final FuseClient fuse;
    final VirtioRngDriver other;

    VirtiofsdBed(Path shared, Path workDir, int queueSize) {
        virtiofsd = Virtiofsd.start(shared, workDir);
        TestMachine m = null;
        try {
            VhostUserDevice device = VhostUserFsDevice.realize(new VhostUserFsOptions("fs0",
                    SocketChardevSpec.client("c0", virtiofsd.socket), TAG, REQUEST_QUEUES, queueSize, true));
            m = new TestMachine(RAM);
            m.addVirtio(device);
            m.addVirtio(new RngDevice("rng1"));
            Guest g = Guest.of(m);
            List<PciFunction> functions = g.enumerate();
            this.guest = g;
            this.fs = new VirtioFsDriver(probe(g, functions, FsProtocol.DEVICE_TYPE));
            this.fuse = new FuseClient(fs);
            this.other = new VirtioRngDriver(probe(g, functions, VirtioRngDriver.DEVICE_TYPE));
        } catch (RuntimeException e) {
            closeAll(m, virtiofsd);
            throw new IllegalStateException(e.getMessage() + "; virtiofsd log: " + virtiofsd.logTail(), e);
        }
        this.machine = m;
    }

    private static VirtioPciDriver probe(Guest g, List<PciFunction> functions, int deviceType) {
        PciFunction fn = functions.stream()
                .filter(f -> VirtioPciDriver.isVirtio(f) && f.deviceId() == VirtioPciDriver.MODERN_DEVICE_ID_BASE + deviceType)
                .findFirst().orElseThrow(() -> new AssertionError("no virtio function of type " + deviceType + " on the bus: " + functions));
        VirtioPciDriver pci = VirtioPciDriver.probe(g, fn);
        pci.setTimeout(DRIVER_TIMEOUT);
        return pci;
    }

    private static void closeAll(TestMachine m, Virtiofsd d) {
        if (m != null) {
            m.close();
        }
        d.close();
    }

    /** Driver initialised and FUSE INIT done. */
    VirtiofsdBed started() {
        fs.initialize();
        fuse.init();
        return this;
    }

    @Override
    public void close() {
        closeAll(machine, virtiofsd);
    }
}
