package io.jvmm.devices.fs;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.backends.ChardevOptions;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.DeclaredDeviceType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import io.jvmm.virtio.pci.VirtioPciDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** {@code -device vhost-user-fs-pci}: virtio-fs served by a vhost-user back-end (virtiofsd). */
public final class VhostUserFsDeviceType extends DeclaredDeviceType<VhostUserFsOptions> {
    public static final String DRIVER = "vhost-user-fs-pci";
    static final Property<ChardevOptions> CHARDEV = Property.backend("chardev", BackendKind.CHARDEV, ChardevOptions.class,
            "the -chardev socket of the vhost-user back-end").required();
    static final Property<String> TAG = Property.string("tag", "the name the guest mounts").required()
            .allowing(t -> !t.isEmpty() && t.getBytes(StandardCharsets.UTF_8).length <= VhostUserFsConfig.TAG_BYTES,
                    "1 to " + VhostUserFsConfig.TAG_BYTES + " bytes");
    static final Property<Integer> REQUEST_QUEUES = Property.integer("num-request-queues", "uint16", 1, 255,
            "request queues besides the high-priority one").withDefault(1);
    static final Property<Integer> QUEUE_SIZE = Property.powerOfTwo("queue-size", "uint16", 2, 32768, "size of every queue")
            .withDefault(VhostUserFsOptions.DEFAULT_QUEUE_SIZE);
    static final Property<Long> REPLY_TIMEOUT = Property.number("x-reply-timeout", "milliseconds", 1, 600_000,
            "how long the back-end may take to answer a message before the device is marked broken")
            .withDefault(VhostUserDeviceOptions.DEFAULT_REPLY_TIMEOUT.toMillis());
    static final Property<Boolean> SYNC_VRING = Property.bool(VhostUserDeviceOptions.SYNC_VRING_PROPERTY,
            "rule 1: wait for the back-end to acknowledge SET_VRING_* (off restores the historic race, for experiments)")
            .withDefault(true)
            .settableAtRunTime((device, on) -> vhostUser(device).setSyncVring(on));

    public VhostUserFsDeviceType() {
        super(DRIVER, DeviceCategory.STORAGE, "PCI", "virtio file system served by a vhost-user back-end such as virtiofsd",
                List.of(CHARDEV, TAG, REQUEST_QUEUES, QUEUE_SIZE, SYNC_VRING, REPLY_TIMEOUT));
    }

    /** The vhost-user front-end inside a device this type built. */
    static VhostUserDevice vhostUser(BuiltDevice device) {
        if (device instanceof BuiltDevice.Pci pci && pci.device() instanceof VirtioPciDevice virtio
                && virtio.device() instanceof VhostUserDevice vhost) {
            return vhost;
        }
        throw new IllegalArgumentException(device.id() + " is not a " + DRIVER + " device");
    }

    @Override
    public VhostUserFsOptions options(PropertyValues v) {
        ChardevOptions chardev = CHARDEV.check(v.owner(), v.get(CHARDEV));
        return new VhostUserFsOptions(v.id(), chardev.socket(), v.get(TAG), v.get(REQUEST_QUEUES), v.get(QUEUE_SIZE), v.get(SYNC_VRING),
                java.time.Duration.ofMillis(v.get(REPLY_TIMEOUT)));
    }

    @Override
    public BuiltDevice build(VhostUserFsOptions options, MachineServices services) {
        return VhostUserPciBuild.build(DRIVER, options.id(), options.chardev(), options.replyTimeout(), "virtiofsd", services,
                metrics -> VhostUserFsDevice.realize(options, metrics));
    }
}
