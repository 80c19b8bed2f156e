package io.jvmm.monitor;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.registry.BackendKind;
import java.util.List;

/**
 * A {@link MonitoredMachine} whose common part is a {@link MonitorSupport} and whose devices are a
 * list of {@link BuiltDevice}s: the delegations, written once (the KVM and the no-CPU machines).
 */
public interface SupportedMachine extends MonitoredMachine {
    /** The machine's monitor state (run state, events, device configurations): the machine's own, not for clients. */
    MonitorSupport monitorSupport();

    /** The devices plugged in, in order. */
    List<BuiltDevice> devices();

    @Override
    default RunState runState() {
        return monitorSupport().state();
    }

    @Override
    default List<MonitoredDevice> monitoredDevices() {
        return monitorSupport().devices(devices());
    }

    @Override
    default List<BackendConfig<?>> backends(BackendKind kind) {
        return monitorSupport().backends(kind);
    }

    @Override
    default java.util.Optional<BlockExports> blockExports() {
        return monitorSupport().blockExports();
    }

    @Override
    default MachineEvents events() {
        return monitorSupport().events();
    }
}
