package io.jvmm.platform;

/**
 * A machine with one guest (KVM, no CPU): it is its own services, the same for every device. A
 * vfio-user server, whose devices each have their own client, is not one.
 */
public interface OneGuestMachine extends Machine, MachineServices {
    @Override
    default MachineServices servicesFor(String deviceId) {
        return this;
    }
}
