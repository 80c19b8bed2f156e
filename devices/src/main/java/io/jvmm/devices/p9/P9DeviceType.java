package io.jvmm.devices.p9;

import io.jvmm.devices.p9.server.FlushMode;
import io.jvmm.devices.p9.server.P9Server;
import io.jvmm.devices.p9.server.P9ServerConfig;
import io.jvmm.devices.p9.server.P9ServerMetrics;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.backends.ChardevOptions;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.DeclaredDeviceType;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import io.jvmm.virtio.pci.VirtioPciDevice;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Set;

/**
 * {@code -device virtio-9p-pci,fsdev=ID,mount_tag=TAG} (jvmm's 9P server in-process, as QEMU's
 * syntax) or {@code -device virtio-9p-pci,chardev=ID,mount_tag=TAG} (jvmm's extension: an external
 * 9P server on a Unix socket).
 */
public final class P9DeviceType extends DeclaredDeviceType<P9Options> {
    public static final String DRIVER = "virtio-9p-pci";
    static final Property<FsdevOptions> FSDEV = Property.backend("fsdev", BackendKind.FSDEV, FsdevOptions.class,
            "the -fsdev local directory to serve in-process");
    static final Property<ChardevOptions> CHARDEV = Property.backend("chardev", BackendKind.CHARDEV, ChardevOptions.class,
            "jvmm extension: the -chardev socket of an external 9P2000.L server (jvmm-9p-server, diod)");
    static final Property<String> MOUNT_TAG = Property.string("mount_tag", "the name the guest mounts (mount -t 9p TAG)").required()
            .allowing(t -> !t.isEmpty() && t.getBytes(StandardCharsets.UTF_8).length <= P9Config.MAX_TAG, "1 to 255 bytes");
    static final Property<String> FLUSH = Property.string("x-flush",
                    "rule 4: exact Tflush; historic restores QEMU's pre-2017 flush (later Tflush dropped, slots leaked), for experiments")
            .allowing(Set.of("exact", "historic")::contains, "exact, historic").withDefault("exact");
    static final Property<Integer> QUEUE_SIZE = Property.powerOfTwo("queue-size", "uint16", 4, 1024, "size of the request queue")
            .withDefault(P9Options.DEFAULT_QUEUE_SIZE);

    public P9DeviceType() {
        super(DRIVER, DeviceCategory.STORAGE, "PCI", "virtio 9P2000.L file system (host directory sharing)",
                List.of(FSDEV, CHARDEV, MOUNT_TAG, FLUSH, QUEUE_SIZE));
    }

    @Override
    public P9Options options(PropertyValues v) {
        ChardevOptions chardev = v.get(CHARDEV);
        return new P9Options(v.id(), v.get(FSDEV), chardev == null ? null : chardev.socket(), v.get(MOUNT_TAG),
                FlushMode.parse(FLUSH.check(v.owner(), v.get(FLUSH))), v.get(QUEUE_SIZE));
    }

    @Override
    public BuiltDevice build(P9Options options, MachineServices services) {
        P9Metrics metrics = new P9Metrics(services.meters(), options.id());
        P9Backend backend = backend(options, services, metrics);
        try {
            return new BuiltDevice.Pci(new VirtioPciDevice(new P9Device(options, backend, metrics), services));
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }

    private static P9Backend backend(P9Options options, MachineServices services, P9Metrics metrics) {
        String owner = "-device " + DRIVER + ",id=" + options.id();
        if (options.fsdev() != null) {
            FsdevOptions fs = options.fsdev();
            P9ServerConfig config = P9ServerConfig.of(fs.path(), fs.readOnly(), fs.security())
                    .withFlush(options.flush()).withDelay(Duration.ofMillis(fs.delayMs()));
            try {
                return new InProcessBackend(options.id(), new P9Server(options.id(), config,
                        new P9ServerMetrics(services.meters(), options.id())));
            } catch (IllegalArgumentException e) {
                throw new UserError(owner + ": -fsdev " + fs.id() + ": " + e.getMessage(), e);
            }
        }
        try {
            return new ForwardingBackend(options.id(), options.chardev(), metrics);
        } catch (IllegalStateException e) {
            throw new UserError(owner + ": " + e.getMessage() + " -- is a 9P server (jvmm-9p-server, diod) listening on that socket?", e);
        }
    }
}
