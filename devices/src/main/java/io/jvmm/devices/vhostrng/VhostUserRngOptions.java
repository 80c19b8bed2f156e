package io.jvmm.devices.vhostrng;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.platform.registry.DeviceOptions;
import java.time.Duration;
import java.util.Objects;

/**
 * {@code -device vhost-user-rng-pci,chardev=ID[,x-sync-vring=off][,x-reply-timeout=MS]}, validated
 * here (through the properties {@link VhostUserRngDeviceType} declares) however it was built.
 *
 * @param syncVring    rule 1: SET_VRING_* acknowledged before the guest's write completes; false
 *                     restores QEMU's old fire-and-forget order (experiments only)
 * @param replyTimeout how long the back-end may take to answer; past it the device is broken (it
 *                     must stay below the machine's write bound, which the build checks)
 */
public record VhostUserRngOptions(String id, SocketChardevSpec chardev, boolean syncVring, Duration replyTimeout)
        implements DeviceOptions {

    public VhostUserRngOptions {
        Objects.requireNonNull(id, "id");
        String owner = VhostUserRngDeviceType.DRIVER + " '" + id + "'";
        Objects.requireNonNull(chardev, () -> owner + ": chardev");
        Objects.requireNonNull(replyTimeout, () -> owner + ": replyTimeout");
        VhostUserRngDeviceType.REPLY_TIMEOUT.check(owner, replyTimeout.toMillis());
    }
}
