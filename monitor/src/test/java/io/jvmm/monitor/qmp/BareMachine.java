package io.jvmm.monitor.qmp;

import io.jvmm.monitor.HotPlug;
import io.jvmm.monitor.MachineEvent;
import io.jvmm.monitor.MachineEvents;
import io.jvmm.monitor.MonitorSupport;
import io.jvmm.monitor.MonitoredDevice;
import io.jvmm.monitor.MonitoredMachine;
import io.jvmm.monitor.PciSlot;
import io.jvmm.monitor.RunState;
import io.jvmm.pci.PciBus;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.registry.BackendKind;
import java.util.List;
import java.util.Optional;

/**
 * The smallest real machine for the protocol's own tests: a PCI bus with its host bridge and no
 * devices, a run state and events (the device-level behaviour is tested against the no-CPU
 * machine in the tests module).
 */
final class BareMachine implements MonitoredMachine {
    final PciBus bus = new PciBus(IoSpace.mmio(), IoSpace.pio());
    final MonitorSupport monitor = new MonitorSupport(RunState.RUNNING);
    volatile int quits;

    @Override
    public String kind() {
        return "bare";
    }

    @Override
    public RunState runState() {
        return monitor.state();
    }

    @Override
    public void stop() {
        if (monitor.setState(RunState.PAUSED) == RunState.RUNNING) {
            monitor.events().emit(new MachineEvent.Stop());
        }
    }

    @Override
    public void cont() {
        if (monitor.setState(RunState.RUNNING) == RunState.PAUSED) {
            monitor.events().emit(new MachineEvent.Resume());
        }
    }

    @Override
    public void systemReset() {
        bus.reset();
        monitor.events().emit(new MachineEvent.Reset(false, "host-qmp-system-reset"));
    }

    @Override
    public void quit() {
        quits++;
        monitor.setState(RunState.SHUTDOWN);
        monitor.events().emit(new MachineEvent.Shutdown(false, "host-qmp-quit"));
    }

    @Override
    public List<MonitoredDevice> monitoredDevices() {
        return List.of();
    }

    @Override
    public List<BackendConfig<?>> backends(BackendKind kind) {
        return List.of();
    }

    @Override
    public List<PciSlot> pciSlots() {
        return PciSlot.onBus(bus);
    }

    @Override
    public Optional<HotPlug> hotPlug() {
        return Optional.empty();
    }

    @Override
    public MachineEvents events() {
        return monitor.events();
    }
}
