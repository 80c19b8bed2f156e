package io.jvmm.platform;

/**
 * A machine devices are plugged into: the KVM machine, the no-CPU test machine, the vfio-user
 * device server. {@link io.jvmm.platform.assembly.MachineAssembly} builds every device through this
 * interface, so a device is assembled the same way in each.
 */
public interface Machine {
    /** "kvm", "no-cpu", "vfio-user": named in errors. */
    String kind();

    /**
     * The services the device {@code deviceId} is built with. Machines with one guest give every
     * device the same; a vfio-user server gives each device its own (each has its own client).
     */
    MachineServices servicesFor(String deviceId);

    /**
     * Plugs a built device in (a PCI slot, a port range, a vfio-user socket).
     *
     * @throws io.jvmm.platform.options.UserError if this machine cannot take such a device
     */
    void plug(BuiltDevice device);
}
