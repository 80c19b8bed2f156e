package io.jvmm.tests.fs;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.emulator.accel.TestMachine;
import io.jvmm.tests.driver.Guest;
import io.jvmm.tests.driver.fs.FsProtocol;
import io.jvmm.tests.driver.fs.FuseClient;
import io.jvmm.tests.driver.fs.VirtioFsDriver;
import io.jvmm.tests.driver.pci.PciFunction;
import io.jvmm.tests.driver.virtio.VirtioPciDriver;
import io.jvmm.virtio.vhost.ContextGuestNotifiers;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceModel;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A no-CPU machine whose one device is a vhost-user device of virtio type 26 served by a real
 * virtiofsd, and the guest's virtio-fs driver and FUSE client on it.
 *
 * <p>The device is the generic vhost-user front-end given a file-system model (identity, queue
 * count, tag + num_request_queues config): a stand-in until the vhost-user-fs-pci device model
 * of io.jvmm.devices.fs exists, which these tests should then use instead.
 */
final class VirtiofsdBed implements AutoCloseable {
    static final long RAM = 256L << 20;
    static final String TAG = "jvmmfs";
    /** QEMU 7.2's virtiofsd serves the high-priority queue and one request queue. */
    static final int REQUEST_QUEUES = 1;
    static final Duration DRIVER_TIMEOUT = Duration.ofSeconds(20);

    final Virtiofsd virtiofsd;
    final EventContext context;
    final ContextGuestNotifiers notifiers;
    final TestMachine machine;
    final Guest guest;
    final VirtioFsDriver fs;
    final FuseClient fuse;

    /** struct virtio_fs_config: tag[36], le32 num_request_queues. */
    static byte[] config(String tag, int requestQueues) {
        ByteBuffer b = ByteBuffer.allocate(40).order(ByteOrder.LITTLE_ENDIAN);
        b.put(tag.getBytes(StandardCharsets.UTF_8));
        b.putInt(36, requestQueues);
        return b.array();
    }

    static VhostUserDeviceModel model(int queueSize) {
        return new VhostUserDeviceModel(FsProtocol.DEVICE_TYPE, "vhost-user-fs", 0x018000, 1 + REQUEST_QUEUES, queueSize,
                0, config(TAG, REQUEST_QUEUES), 0);
    }

    VirtiofsdBed(Path shared, Path workDir, int queueSize) {
        virtiofsd = Virtiofsd.start(shared, workDir);
        EventContext ctx = null;
        ContextGuestNotifiers n = null;
        TestMachine m = null;
        try {
            ctx = EventContext.start("fs-test");
            n = new ContextGuestNotifiers(ctx);
            VhostUserDevice device = VhostUserDevice.realize(
                    VhostUserDeviceOptions.of("fs0", SocketChardevSpec.client("c0", virtiofsd.socket)), model(queueSize), n);
            m = new TestMachine(RAM);
            m.addVirtio(device);
            Guest g = Guest.of(m);
            PciFunction fn = g.enumerate().stream()
                    .filter(f -> VirtioPciDriver.isVirtio(f) && f.deviceId() == VirtioPciDriver.MODERN_DEVICE_ID_BASE + FsProtocol.DEVICE_TYPE)
                    .findFirst().orElseThrow(() -> new AssertionError("no virtio-fs function on the bus"));
            VirtioPciDriver pci = VirtioPciDriver.probe(g, fn);
            pci.setTimeout(DRIVER_TIMEOUT);
            this.guest = g;
            this.fs = new VirtioFsDriver(pci);
            this.fuse = new FuseClient(fs);
        } catch (RuntimeException e) {
            closeAll(m, n, ctx, virtiofsd);
            throw new IllegalStateException(e.getMessage() + "; virtiofsd log: " + virtiofsd.logTail(), e);
        }
        this.context = ctx;
        this.notifiers = n;
        this.machine = m;
    }

    private static void closeAll(TestMachine m, ContextGuestNotifiers n, EventContext ctx, Virtiofsd d) {
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

    /** Driver initialised and FUSE INIT done. */
    VirtiofsdBed started() {
        fs.initialize();
        fuse.init();
        return this;
    }

    @Override
    public void close() {
        closeAll(machine, notifiers, context, virtiofsd);
    }
}
