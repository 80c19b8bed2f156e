package io.jvmm.emulator.machine;

import io.jvmm.devices.blk.RawFileBackend;
import io.jvmm.devices.blk.VirtioBlk;
import io.jvmm.devices.rng.VirtioRng;
import io.jvmm.emulator.config.DevicePlan;
import io.jvmm.emulator.config.UserError;
import io.jvmm.virtio.VirtioDevice;

/** Builds the device model a validated {@link DevicePlan} describes (also for the vfio-user server). */
public final class DeviceBuilder {
    private static final int BLK_IO_THREADS = 2;

    private DeviceBuilder() {
    }

    /** The virtio device model for a virtio plan; host problems (files) become {@link UserError}s. */
    public static VirtioDevice virtio(DevicePlan plan) {
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
