package io.jvmm.devices.debugexit;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.DeclaredDeviceType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import java.util.List;

/** {@code -device isa-debug-exit}: a port a test guest writes to end the machine with a status. */
public final class DebugExitType extends DeclaredDeviceType<DebugExitOptions> {
    public static final String DRIVER = "isa-debug-exit";
    static final Property<Integer> IOBASE = Property.integer("iobase", "uint32", 0, 0xffff, "first I/O port").withDefault(0x501);
    static final Property<Integer> IOSIZE = Property.integer("iosize", "uint32", 1, 4, "number of I/O ports").withDefault(2);

    public DebugExitType() {
        super(DRIVER, DeviceCategory.MISC, "ISA", "a write of v ends the machine with status (v << 1) | 1",
                List.of(IOBASE, IOSIZE));
    }

    @Override
    public DebugExitOptions options(PropertyValues v) {
        return new DebugExitOptions(v.id(), v.get(IOBASE), v.get(IOSIZE));
    }

    @Override
    public BuiltDevice build(DebugExitOptions options, MachineServices services) {
        return new BuiltDevice.Ports(options.id(), options.iobase(), options.iosize(), new DebugExitPort(services::requestExit));
    }
}
