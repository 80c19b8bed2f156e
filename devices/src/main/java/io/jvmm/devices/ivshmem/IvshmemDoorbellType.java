package io.jvmm.devices.ivshmem;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.backends.ChardevOptions;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.DeclaredDeviceType;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import io.jvmm.pci.msix.Msix;
import java.util.List;

/**
 * {@code -device ivshmem-doorbell,chardev=C[,vectors=N]}: QEMU's inter-VM shared memory with
 * doorbell interrupts, its memory and eventfds from an ivshmem server; the setup with the server
 * completes inside the build (rule 6) unless {@code x-async-setup=on}.
 */
public final class IvshmemDoorbellType extends DeclaredDeviceType<IvshmemDoorbellOptions> {
    public static final String DRIVER = "ivshmem-doorbell";
    public static final String ASYNC_SETUP_PROPERTY = "x-async-setup";
    static final Property<ChardevOptions> CHARDEV = Property.backend("chardev", BackendKind.CHARDEV, ChardevOptions.class,
            "the -chardev socket of the ivshmem server (its timeout-ms= bounds the setup)").required();
    static final Property<Integer> VECTORS = Property.integer("vectors", "uint32", 1, Msix.MAX_VECTORS, "MSI-X vectors")
            .withDefault(1);
    static final Property<Boolean> ASYNC_SETUP = Property.bool(ASYNC_SETUP_PROPERTY,
            "rule 6 off: talk to the server after the device is built, as QEMU before 2.6 (experiments only)").withDefault(false);
    static final Property<Long> SIZE = Property.size("size", "with x-async-setup=on: BAR2's size, known before the memory arrives")
            .withDefault(IvshmemDoorbellOptions.DEFAULT_ASYNC_SIZE);

    public IvshmemDoorbellType() {
        super(DRIVER, DeviceCategory.MISC, "PCI",
                "Inter-VM shared memory with doorbell interrupts (QEMU's ivshmem-doorbell), through an ivshmem server",
                List.of(CHARDEV, VECTORS, ASYNC_SETUP, SIZE));
    }

    @Override
    public IvshmemDoorbellOptions options(PropertyValues v) {
        ChardevOptions chardev = CHARDEV.check(v.owner(), v.get(CHARDEV));
        boolean async = v.get(ASYNC_SETUP);
        if (v.given(SIZE) && !async) {
            throw new UserError(v.owner() + ": size= only applies with x-async-setup=on (BAR2 is the server's memory)");
        }
        return new IvshmemDoorbellOptions(v.id(), chardev.socket(), v.get(VECTORS), async, v.get(SIZE));
    }

    @Override
    public BuiltDevice build(IvshmemDoorbellOptions options, MachineServices services) {
        try {
            return new BuiltDevice.Pci(IvshmemDoorbellDevice.realize(options, services));
        } catch (IvshmemSetupException e) {
            throw new UserError(e.getMessage(), e);
        }
    }
}
