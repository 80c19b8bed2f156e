package io.jvmm.monitor.qmp;

import io.jvmm.monitor.HotPlug;
import io.jvmm.monitor.MonitorSupport;
import io.jvmm.monitor.PciSlot;
import io.jvmm.monitor.RunState;
import io.jvmm.monitor.SupportedMachine;
import io.jvmm.pci.PciBus;
import io.jvmm.pci.dispatch.IoSpace;
import io.jvmm.platform.BuiltDevice;
import java.util.List;
import java.util.Optional;

/**
 * The smallest real machine for the protocol's own tests: a PCI bus with its host bridge and no
 * devices, a run state and events (the device-level behaviour is tested against the no-CPU
 * machine in the tests module).
 */
final class BareMachine implements SupportedMachine {
    final PciBus bus = new PciBus(IoSpace.mmio(), IoSpace.pio());
    final MonitorSupport monitor = new MonitorSupport(RunState.RUNNING);
    volatile int quits;

    @Override
    public String kind() {
        return "bare";
    }

    @Override
    public MonitorSupport monitorSupport() {
        return monitor;
    }

    @Override
    public List<BuiltDevice> devices() {
        return List.of();
    }

    @Override
    public void stop() {
        monitor.pause();
    }

    @Override
    public void cont() {
        monitor.resume("the bare machine");
    }

    @Override
    public void systemReset() {
        bus.reset();
        monitor.resetByMonitor();
    }

    @Override
    public void quit() {
        quits++;
        monitor.quitByMonitor();
    }

    @Override
    public List<PciSlot> pciSlots() {
        return PciSlot.onBus(bus);
    }

    @Override
    public Optional<HotPlug> hotPlug() {
        return Optional.empty();
    }
}
