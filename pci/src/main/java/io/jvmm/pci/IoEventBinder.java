package io.jvmm.pci;

/**
 * How a machine takes {@link IoEvent}s off the vCPU path: told where each event is whenever its
 * BAR is mapped, and when it goes away. KVM registers ioeventfds; a machine without one (no CPU,
 * vfio-user) binds nothing and {@link PciDevice} matches the trapped writes instead.
 */
public interface IoEventBinder {
    /** Binds nothing: every write is trapped and matched by the device. */
    IoEventBinder TRAPPED = new IoEventBinder() {
        @Override
        public boolean bind(IoEvent event, long address, boolean pio) {
            return false;
        }

        @Override
        public void unbind(IoEvent event, long address, boolean pio) {
        }
    };

    /**
     * {@code event} now sits at guest address {@code address} (in port I/O space if {@code pio}).
     * Returns whether the machine took it (writes then no longer trap); false leaves it trapped.
     */
    boolean bind(IoEvent event, long address, boolean pio);

    /** The binding made by a {@link #bind} that returned true is no longer wanted. */
    void unbind(IoEvent event, long address, boolean pio);
}
