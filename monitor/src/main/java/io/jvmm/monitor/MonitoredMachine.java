package io.jvmm.monitor;

import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.registry.BackendKind;
import java.util.List;
import java.util.Optional;

/**
 * What a machine shows a monitor and lets it do: implemented by the KVM machine, the no-CPU
 * machine (the test kit's) and the vfio-user device server. A QMP server
 * ({@link io.jvmm.monitor.qmp.QmpServer}) serves one of these.
 *
 * <p>Operations a machine cannot do throw {@link io.jvmm.platform.options.UserError} with one line
 * saying why (a monitor answers it as QEMU's GenericError); the machine is left as it was.
 * Operations are called by one monitor thread at a time.
 */
public interface MonitoredMachine {
    /** "kvm", "no-cpu", "vfio-user". */
    String kind();

    RunState runState();

    /** Pauses the vCPUs ({@link MachineEvent.Stop} if they ran). */
    void stop();

    /** Resumes the vCPUs ({@link MachineEvent.Resume} if they were paused). */
    void cont();

    /** Resets the machine as a reset button would ({@link MachineEvent.Reset}). */
    void systemReset();

    /** Ends the machine ({@link MachineEvent.Shutdown}); monitors are closed with it. */
    void quit();

    /** The devices made from options (command line or {@code device_add}), in the order they were plugged. */
    List<MonitoredDevice> monitoredDevices();

    /** The back-ends of {@code kind} the machine was given ({@code -drive}, {@code -chardev}, ...). */
    List<BackendConfig<?>> backends(BackendKind kind);

    /** The PCI functions as the guest finds them (on a machine with a bus, the host bridge first). */
    List<PciSlot> pciSlots();

    /** Hot-plug, where the machine can. */
    Optional<HotPlug> hotPlug();

    /** The NBD server and exports QMP drives, where the machine has a block layer. */
    default Optional<BlockExports> blockExports() {
        return Optional.empty();
    }

    /** Where the machine reports what happens to it. */
    MachineEvents events();
}
