package io.jvmm.monitor;

import io.jvmm.platform.config.DeviceConfig;

/**
 * Adding and removing devices while a machine runs ({@code device_add}, {@code device_del}), for
 * the machines that can: the no-CPU machine (a new function on its bus), the vfio-user server (a
 * new socket). Called by one monitor thread at a time.
 */
public interface HotPlug {
    /**
     * Builds {@code config}'s device through the one assembly path and plugs it in.
     *
     * @throws io.jvmm.platform.options.UserError naming what is wrong (nothing is left behind)
     */
    MonitoredDevice add(DeviceConfig<?> config);

    /**
     * Unplugs device {@code id} and closes it; the machine reports
     * {@link MachineEvent.DeviceDeleted} once it is gone.
     *
     * @throws io.jvmm.platform.options.UserError if it cannot be removed
     */
    void remove(String id);
}
