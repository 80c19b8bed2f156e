package io.jvmm.platform.registry;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import java.util.List;

/**
 * A device type, declared once in its own package and found through {@link java.util.ServiceLoader}
 * (listed in the module's {@code META-INF/services/io.jvmm.platform.registry.DeviceType}): the
 * command line, {@code -device help}, QMP and the test kit all read it from the {@link Registry}.
 *
 * @param <O> the device's options record; it validates itself (through its properties' {@link Property#check})
 */
public interface DeviceType<O extends DeviceOptions> {
    /** QEMU's driver name, e.g. "virtio-blk-pci". */
    String driver();

    DeviceCategory category();

    /** One line for {@code -device help}. */
    String description();

    /** "PCI" or "ISA", as {@code -device help} prints it. */
    default String bus() {
        return "PCI";
    }

    /** The properties besides {@code id}, in the order help lists them. */
    List<Property<?>> properties();

    /** The options record for the parsed values; throws {@link io.jvmm.platform.options.UserError} naming what is wrong. */
    O options(PropertyValues values);

    /**
     * Builds the device with the machine's services (host resources are acquired here: files,
     * back-end connections, with handshakes completed — rule 6). A failure leaves nothing behind.
     */
    BuiltDevice build(O options, MachineServices services);

    /** "virtio-blk-pci 'blk0'": how errors name a device. */
    default String describe(String id) {
        return driver() + " '" + id + "'";
    }
}
