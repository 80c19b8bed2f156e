package io.jvmm.devices.vhostrng;

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
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import io.jvmm.virtio.vhost.frontend.VhostUserMetrics;
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
        if (options.replyTimeout().compareTo(services.writeBound()) >= 0) {
            throw new UserError("-device " + DRIVER + ",id=" + options.id() + ": x-reply-timeout=" + options.replyTimeout().toMillis()
                    + " must be below the " + services.kind() + " machine's bound on a guest write (" + services.writeBound().toMillis()
                    + " ms), or a vCPU would be released before the back-end is declared dead");
        }
        VhostUserDevice device;
        try {
            device = VhostUserRngDevice.realize(options, new VhostUserMetrics(services.meters(), options.id()));
        } catch (RuntimeException e) {
            throw new UserError("-device " + DRIVER + ",id=" + options.id() + ": the back-end on chardev '" + options.chardev().id()
                    + "' (" + options.chardev().path() + ") could not be set up: " + e.getMessage()
                    + " -- is a vhost-user rng back-end (such as VhostUserBackendMain) running on that socket?", e);
        }
        try {
            return new BuiltDevice.Pci(new VirtioPciDevice(device, services));
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }
}
