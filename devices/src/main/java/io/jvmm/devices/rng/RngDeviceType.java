package io.jvmm.devices.rng;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.DeviceType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import io.jvmm.virtio.pci.VirtioPciDevice;
import java.util.List;

/** {@code -device virtio-rng-pci}. */
public final class RngDeviceType implements DeviceType<RngOptions> {
    public static final String DRIVER = "virtio-rng-pci";

    @Override
    public String driver() {
        return DRIVER;
    }

    @Override
    public DeviceCategory category() {
        return DeviceCategory.MISC;
    }

    @Override
    public String description() {
        return "virtio entropy source (SecureRandom)";
    }

    @Override
    public List<Property<?>> properties() {
        return List.of();
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
