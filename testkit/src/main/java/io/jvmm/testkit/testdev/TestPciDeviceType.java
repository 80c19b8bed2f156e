package io.jvmm.testkit.testdev;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.backends.MemoryBackendOptions;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.DeclaredDeviceType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import java.util.List;

/** {@code -device jvmm-testdev}: the test kit's PCI device (RAM BAR, doorbell, MSI-X); see {@link TestPciDevice}. */
public final class TestPciDeviceType extends DeclaredDeviceType<TestPciOptions> {
    public static final String DRIVER = "jvmm-testdev";
    static final Property<MemoryBackendOptions> MEMDEV = Property.backend("memdev", BackendKind.OBJECT, MemoryBackendOptions.class,
            "a memory back-end for BAR2 (else a memfd of size=)");
    static final Property<Long> SIZE = Property.size("size", "BAR2's size when no memdev is given (a power of two)")
            .withDefault(TestPciOptions.DEFAULT_SIZE);
    static final Property<Integer> VECTORS = Property.integer("vectors", "uint32", 1, 64, "MSI-X vectors").withDefault(2);

    public TestPciDeviceType() {
        super(DRIVER, DeviceCategory.MISC, "PCI", "jvmm's test device: a RAM BAR, a doorbell register and MSI-X vectors",
                List.of(MEMDEV, SIZE, VECTORS));
    }

    @Override
    public TestPciOptions options(PropertyValues v) {
        if (v.given(MEMDEV) && v.given(SIZE)) {
            throw new UserError(v.owner() + ": give memdev= or size=, not both");
        }
        return new TestPciOptions(v.id(), v.get(MEMDEV), v.get(SIZE), v.get(VECTORS));
    }

    @Override
    public BuiltDevice build(TestPciOptions options, MachineServices services) {
        SharedMemory ram = options.memdev() != null ? options.memdev().open() : SharedMemory.create(options.id() + "-bar2", options.size());
        try {
            return new BuiltDevice.Pci(new TestPciDevice(options.id(), ram, true, options.vectors(), services));
        } catch (RuntimeException e) {
            ram.close();
            throw e;
        }
    }
}
