package io.jvmm.devices.vhostrng;

import io.jvmm.devices.fs.VhostUserPciBuild;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.backends.ChardevOptions;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.DeclaredDeviceType;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import java.time.Duration;
import java.util.List;

/** {@code -device vhost-user-rng-pci}: virtio entropy served by a vhost-user back-end. */
public final class VhostUserRngDeviceType extends DeclaredDeviceType<VhostUserRngOptions> {
    public static final String DRIVER = "vhost-user-rng-pci";
    static final Property<ChardevOptions> CHARDEV = Property.backend("chardev", BackendKind.CHARDEV, ChardevOptions.class,
            "the -chardev socket of the vhost-user back-end").required();
    static final Property<Long> REPLY_TIMEOUT = Property.number("x-reply-timeout", "milliseconds", 1, 600_000,
            "how long the back-end may take to answer a message before the device is marked broken")
            .withDefault(VhostUserDeviceOptions.DEFAULT_REPLY_TIMEOUT.toMillis());
    static final Property<Boolean> SYNC_VRING = Property.bool(VhostUserDeviceOptions.SYNC_VRING_PROPERTY,
            "rule 1: wait for the back-end to acknowledge SET_VRING_* (off restores QEMU's old order, for experiments)")
            .withDefault(true);

    public VhostUserRngDeviceType() {
        super(DRIVER, DeviceCategory.MISC, "PCI", "virtio entropy source served by a vhost-user back-end",
                List.of(CHARDEV, SYNC_VRING, REPLY_TIMEOUT));
    }

    @Override
    public VhostUserRngOptions options(PropertyValues v) {
        ChardevOptions chardev = CHARDEV.check(v.owner(), v.get(CHARDEV));
        return new VhostUserRngOptions(v.id(), chardev.socket(), v.get(SYNC_VRING), Duration.ofMillis(v.get(REPLY_TIMEOUT)));
    }

    @Override
    public BuiltDevice build(VhostUserRngOptions options, MachineServices services) {
        return VhostUserPciBuild.build(DRIVER, options.id(), options.chardev(), options.replyTimeout(), "a vhost-user rng back-end (such as VhostUserBackendMain)", services,
                metrics -> VhostUserRngDevice.realize(options, metrics));
    }
}
