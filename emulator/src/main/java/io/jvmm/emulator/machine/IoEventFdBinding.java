package io.jvmm.emulator.machine;

import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import io.jvmm.emulator.kvm.KvmVm;
import io.jvmm.virtio.pci.NotifyBinding;
import io.jvmm.virtio.pci.VirtioPciDevice;

import java.util.HashMap;
import java.util.Map;

/**
 * Queue notifications as KVM ioeventfds: a guest write to a notify register signals an eventfd
 * inside the kernel, with no exit to a vCPU thread, and the device's event context serves the
 * queue. Follows the BAR wherever the guest maps it.
 */
final class IoEventFdBinding implements NotifyBinding {
    private final KvmVm vm;
    private final VirtioPciDevice device;
    private final Map<Long, Bound> bound = new HashMap<>();

    private record Bound(EventFd fd, Registration registration) {
    }

    IoEventFdBinding(KvmVm vm, VirtioPciDevice device) {
        this.vm = vm;
        this.device = device;
    }

    @Override
    public synchronized void bind(int queue, long address, int length) {
        EventFd fd = EventFd.create();
        vm.addIoEventFd(address, length, false, fd);
        Registration r = device.context().addEventFd(fd, device.id() + " queue " + queue + " notify",
                n -> device.queueNotified(queue));
        bound.put(address, new Bound(fd, r));
    }

    @Override
    public synchronized void unbind(int queue, long address, int length) {
        Bound b = bound.remove(address);
        if (b != null) {
            vm.removeIoEventFd(address, length, false, b.fd());
            b.registration().cancel();
            b.fd().close();
        }
    }
}
