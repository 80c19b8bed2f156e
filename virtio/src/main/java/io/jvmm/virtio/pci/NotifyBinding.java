package io.jvmm.virtio.pci;

/**
 * Lets an accelerator take queue notifications off the vCPU path (KVM ioeventfds): told where
 * each queue's notify register is whenever the virtio BAR is mapped, and when it goes away.
 */
public interface NotifyBinding {
    void bind(int queue, long address, int length);

    void unbind(int queue, long address, int length);
}
