package io.jvmm.emulator.machine;

import io.jvmm.devices.blk.RawFileBackend;
import io.jvmm.devices.blk.VirtioBlk;
import io.jvmm.devices.fs.VhostUserFs;
import io.jvmm.devices.fs.VhostUserFsOptions;
import io.jvmm.devices.rng.VirtioRng;
import io.jvmm.emulator.config.DevicePlan;
import io.jvmm.emulator.config.UserError;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.vhost.GuestNotifiers;

/** Builds the device model a validated {@link DevicePlan} describes (also for the vfio-user server). */
public final class DeviceBuilder {
    private static final int BLK_IO_THREADS = 2;

    private DeviceBuilder() {
    }

    /** A device model for an in-process virtio plan (no vhost-user back-end). */
    public static VirtioDevice virtio(DevicePlan plan) {
        return virtio(plan, null);
    }

    /**
     * The virtio device model for a virtio plan; host problems (files, back-ends) become
     * {@link UserError}s. {@code notifiers} gives vhost-user devices their per-vector eventfds.
     */
    public static VirtioDevice virtio(DevicePlan plan, GuestNotifiers notifiers) {
        if (plan instanceof DevicePlan.VhostUserFs fs) {
            if (notifiers == null) {
                throw new UserError("-device vhost-user-fs-pci is not supported here (it needs a machine that routes its interrupts)");
            }
            try {
                return VhostUserFs.realize(new VhostUserFsOptions(fs.id(), fs.chardev(), fs.tag(), fs.requestQueues(),
                        fs.queueSize(), fs.syncVring()), notifiers);
            } catch (RuntimeException e) {
                throw new UserError("-device vhost-user-fs-pci,id=" + fs.id() + ": the back-end on chardev '" + fs.chardev().id()
                        + "' (" + fs.chardev().path() + ") could not be set up: " + e.getMessage()
                        + " -- is virtiofsd running on that socket?", e);
            }
        }
        if (plan instanceof DevicePlan.VirtioBlk blk) {
            RawFileBackend backend;
            try {
                backend = new RawFileBackend(blk.id(), blk.drive().file(), blk.drive().readOnly(), BLK_IO_THREADS);
            } catch (IllegalArgumentException e) {
                throw new UserError("-drive " + blk.drive().id() + ": " + e.getMessage(), e);
            }
            return new VirtioBlk(blk.id(), backend, blk.serial(), blk.queueSize());
        }
        if (plan instanceof DevicePlan.VirtioRng rng) {
            return new VirtioRng(rng.id());
        }
        throw new IllegalArgumentException(plan.driver() + " is not a virtio device");
    }
}
