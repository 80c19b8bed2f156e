package io.jvmm.emulator.machine;

import io.jvmm.emulator.kvm.KvmVm;
import io.jvmm.pci.IoEvent;
import io.jvmm.pci.IoEventBinder;

/**
 * I/O events as KVM ioeventfds: a guest write to the register (of the event's length, and value
 * when it matches data) signals the eventfd inside the kernel, with no exit to a vCPU thread. The
 * device's context, or a back-end in another process (a vhost-user kick fd), watches the eventfd.
 */
final class KvmIoEventBinder implements IoEventBinder {
    private final KvmVm vm;

    KvmIoEventBinder(KvmVm vm) {
        this.vm = vm;
    }

    @Override
    public boolean bind(IoEvent event, long address, boolean pio) {
        if (event.matchData()) {
            vm.addIoEventFd(address, event.length(), pio, event.fd(), event.data());
        } else {
            vm.addIoEventFd(address, event.length(), pio, event.fd());
        }
        return true;
    }

    @Override
    public void unbind(IoEvent event, long address, boolean pio) {
        if (event.matchData()) {
            vm.removeIoEventFd(address, event.length(), pio, event.fd(), event.data());
        } else {
            vm.removeIoEventFd(address, event.length(), pio, event.fd());
        }
    }
}
