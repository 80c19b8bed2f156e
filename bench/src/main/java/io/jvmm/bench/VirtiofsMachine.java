package io.jvmm.bench;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.devices.fs.VhostUserFsDevice;
import io.jvmm.devices.fs.VhostUserFsOptions;
import io.jvmm.devices.rng.RngDevice;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.fs.FsProtocol;
import io.jvmm.testkit.driver.fs.FuseClient;
import io.jvmm.testkit.driver.fs.VirtioFsDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.pci.msix.ContextGuestNotifiers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The no-CPU machine the virtio-fs benchmarks drive: jvmm's vhost-user-fs-pci served by
 * virtiofsd on a directory, an in-process virtio-rng beside it, the guest's virtio-fs driver with
 * a FUSE session (INIT done) and the rng driver initialised.
 */
final class VirtiofsMachine implements AutoCloseable {
    static final long RAM = 256L << 20;
    static final int QUEUE_SIZE = 128;

    final Path workDir;
    final Path shared;
    final BenchVirtiofsd virtiofsd;
    private final EventContext context;
    private final ContextGuestNotifiers notifiers;
    final TestMachine machine;
    final VirtioFsDriver fs;
    final FuseClient fuse;
    final VirtioRngDriver rng;
    /** jvmm's side of the vhost-user-fs device (its front-end and connection). */
    final io.jvmm.virtio.vhost.frontend.VhostUserDevice fsDevice;

    private VirtiofsMachine(Path workDir, Path shared, BenchVirtiofsd virtiofsd, EventContext context, ContextGuestNotifiers notifiers,
                            TestMachine machine, VirtioFsDriver fs, VirtioRngDriver rng,
                            io.jvmm.virtio.vhost.frontend.VhostUserDevice fsDevice) {
        this.fsDevice = fsDevice;
        this.workDir = workDir;
        this.shared = shared;
        this.virtiofsd = virtiofsd;
        this.context = context;
        this.notifiers = notifiers;
        this.machine = machine;
        this.fs = fs;
        this.fuse = new FuseClient(fs);
        this.rng = rng;
    }

    /** A work directory with {@code shared/} in it, for the caller to fill before {@link #start}. */
    static Path workDir() throws IOException {
        Path dir = Files.createTempDirectory("jvmm-bench-fs");
        Files.createDirectory(dir.resolve("shared"));
        return dir;
    }

    static VirtiofsMachine start(Path workDir) throws IOException, InterruptedException {
        Path shared = workDir.resolve("shared");
        BenchVirtiofsd d = BenchVirtiofsd.start(shared, workDir);
        EventContext ctx = null;
        ContextGuestNotifiers n = null;
        TestMachine m = null;
        try {
            ctx = EventContext.start("bench-fs");
            n = new ContextGuestNotifiers(ctx);
            m = new TestMachine(RAM);
            io.jvmm.virtio.vhost.frontend.VhostUserDevice fsDevice = VhostUserFsDevice.realize(new VhostUserFsOptions("fs0", SocketChardevSpec.client("c0", d.socket), "bench", 1,
                    QUEUE_SIZE, true));
            m.addVirtio(fsDevice);
            m.addVirtio(new RngDevice("rng1"));
            Guest g = Guest.of(m);
            List<PciFunction> functions = g.enumerate();
            VirtioFsDriver fs = new VirtioFsDriver(probe(g, functions, FsProtocol.DEVICE_TYPE)).initialize();
            VirtioRngDriver rng = new VirtioRngDriver(probe(g, functions, VirtioRngDriver.DEVICE_TYPE)).initialize();
            VirtiofsMachine vm = new VirtiofsMachine(workDir, shared, d, ctx, n, m, fs, rng, fsDevice);
            vm.fuse.init();
            return vm;
        } catch (RuntimeException e) {
            closeAll(m, n, ctx, d);
            throw new IllegalStateException(e.getMessage() + "; virtiofsd log: " + d.log(), e);
        }
    }

    private static VirtioPciDriver probe(Guest g, List<PciFunction> functions, int type) {
        PciFunction fn = functions.stream()
                .filter(f -> VirtioPciDriver.isVirtio(f) && f.deviceId() == VirtioPciDriver.MODERN_DEVICE_ID_BASE + type)
                .findFirst().orElseThrow(() -> new IllegalStateException("no virtio device of type " + type + ": " + functions));
        return VirtioPciDriver.probe(g, fn);
    }

    /** Throws if the device broke or virtiofsd died: a figure from a broken run measures nothing. */
    void checkHealthy() {
        if (fs.device().needsReset() || !virtiofsd.alive()) {
            throw new IllegalStateException("the virtio-fs device broke during the benchmark (needs reset "
                    + fs.device().needsReset() + ", virtiofsd alive " + virtiofsd.alive() + "): " + virtiofsd.log());
        }
    }

    private static void closeAll(TestMachine m, ContextGuestNotifiers n, EventContext ctx, BenchVirtiofsd d) {
        if (m != null) {
            m.close();
        }
        if (n != null) {
            n.close();
        }
        if (ctx != null) {
            ctx.close();
        }
        d.close();
    }

    @Override
    public void close() {
        closeAll(machine, notifiers, context, virtiofsd);
    }

    /** Deletes a work directory and everything in it. */
    static void delete(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
