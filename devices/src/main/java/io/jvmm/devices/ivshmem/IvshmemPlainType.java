package io.jvmm.devices.ivshmem;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.backends.MemoryBackendOptions;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.DeclaredDeviceType;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import java.util.List;

/** {@code -device ivshmem-plain,memdev=M}: QEMU's inter-VM shared memory without interrupts. */
public final class IvshmemPlainType extends DeclaredDeviceType<IvshmemPlainOptions> {
    public static final String DRIVER = "ivshmem-plain";
    static final Property<MemoryBackendOptions> MEMDEV = Property.backend("memdev", BackendKind.OBJECT, MemoryBackendOptions.class,
            "the memory back-end (memory-backend-memfd|file,share=on) BAR2 shows").required();

    public IvshmemPlainType() {
        super(DRIVER, DeviceCategory.MISC, "PCI", "Inter-VM shared memory (QEMU's ivshmem-plain: BAR2 is a memory back-end)",
                List.of(MEMDEV));
    }

    @Override
    public IvshmemPlainOptions options(PropertyValues v) {
        return new IvshmemPlainOptions(v.id(), v.get(MEMDEV));
    }

    @Override
    public BuiltDevice build(IvshmemPlainOptions options, MachineServices services) {
        SharedMemory memory = options.memdev().open();
        try {
            return new BuiltDevice.Pci(IvshmemDevice.plain(options.id(), memory, true));
        } catch (RuntimeException e) {
            memory.close();
            throw e;
        }
    }
}
