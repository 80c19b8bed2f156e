package io.jvmm.devices.blk;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.DeclaredDeviceType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import io.jvmm.virtio.pci.VirtioPciDevice;
import java.util.List;

/** {@code -device virtio-blk-pci}: declared once for the command line, help, QMP and the test kit. */
public final class BlkDeviceType extends DeclaredDeviceType<BlkOptions> {
    public static final String DRIVER = "virtio-blk-pci";
    static final Property<BlockSource> DRIVE = Property.backend("drive", BackendKind.DRIVE, BlockSource.class,
            "the -drive (or -blockdev node-name) holding the disk image").required();
    static final Property<String> SERIAL = Property.string("serial", "disk serial number reported by GET_ID")
            .allowing(s -> s.length() <= 20, "at most 20 characters");
    static final Property<Integer> QUEUE_SIZE = Property.powerOfTwo("queue-size", "uint16", 4, 1024, "size of each request queue")
            .withDefault(BlkOptions.DEFAULT_QUEUE_SIZE);
    /** QEMU's name; its default there is one per vCPU, which a device served over vfio-user cannot know. */
    static final Property<Integer> NUM_QUEUES = Property.integer("num-queues", "uint16", 1, BlkDevice.MAX_QUEUES,
            "request queues (more than 1: multiqueue; give the guest's vCPU count)").withDefault(BlkOptions.DEFAULT_NUM_QUEUES);
    /** QEMU's iothread property; here every device has its own context, which is what polls. */
    static final Property<Long> POLL_MAX_NS = Property.number("poll-max-ns", "nanoseconds", 0, 1_000_000_000,
            "how long the device's thread busy-polls its queues before it sleeps (adaptive; 0: never; QEMU's iothreads use 32768)")
            .withDefault(BlkOptions.DEFAULT_POLL_MAX_NS);
    /** I/O threads of a raw image: several requests in flight without blocking the device's context. */
    static final int IO_THREADS = 2;

    /** I/O threads a raw image gets (its own pool). */
    public static int ioThreads() {
        return IO_THREADS;
    }

    public BlkDeviceType() {
        super(DRIVER, DeviceCategory.STORAGE, "PCI", "virtio block device",
                List.of(DRIVE, SERIAL, QUEUE_SIZE, NUM_QUEUES, POLL_MAX_NS));
    }

    @Override
    public BlkOptions options(PropertyValues v) {
        return new BlkOptions(v.id(), v.get(DRIVE), v.get(SERIAL), v.get(QUEUE_SIZE), v.get(NUM_QUEUES), v.get(POLL_MAX_NS));
    }

    @Override
    public BuiltDevice build(BlkOptions options, MachineServices services) {
        BlockBackend backend = options.drive().open(options.id());
        try {
            BlkDevice device = new BlkDevice(options, backend, new BlkMetrics(services.meters(), options.id()));
            return new BuiltDevice.Pci(new VirtioPciDevice(device, services));
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }
}
