package io.jvmm.devices.rng;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.DeclaredDeviceType;
import io.jvmm.platform.registry.PropertyValues;
import io.jvmm.virtio.pci.VirtioPciDevice;
import java.util.List;

/** {@code -device virtio-rng-pci}. */
public final class RngDeviceType extends DeclaredDeviceType<RngOptions> {
    public static final String DRIVER = "virtio-rng-pci";

    public RngDeviceType() {
        super(DRIVER, DeviceCategory.MISC, "PCI", "virtio entropy source (SecureRandom)",
                List.of());
    }

    @Override
    public RngOptions options(PropertyValues v) {
        return new RngOptions(v.id());
    }

    @Override
    public BuiltDevice build(RngOptions options, MachineServices services) {
        RngDevice device = new RngDevice(options, new RngMetrics(services.meters(), options.id()));
        return new BuiltDevice.Pci(new VirtioPciDevice(device, services));
    }
}
