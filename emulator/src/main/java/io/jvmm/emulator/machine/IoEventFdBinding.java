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

    /** The ioeventfd and, when the VMM serves the queue itself, its registration on the device's context. */
    private record Bound(EventFd fd, Registration registration) {
    }

    IoEventFdBinding(KvmVm vm, VirtioPciDevice device) {
        this.vm = vm;
        this.device = device;
    }

    @Override
    public synchronized void bind(int queue, long address, int length) {
        EventFd backendKick = device.device().notificationEventFd(queue);
        if (backendKick != null) {
            // A back-end in another process watches this fd: the kick goes from the guest's
            // write straight to it, through the kernel only.
            vm.addIoEventFd(address, length, false, backendKick);
            bound.put(address, new Bound(backendKick, null));
            return;
        }
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
            if (b.registration() != null) {   // our own fd; a back-end's kick fd belongs to its device
                b.registration().cancel();
                b.fd().close();
            }
        }
    }
}
