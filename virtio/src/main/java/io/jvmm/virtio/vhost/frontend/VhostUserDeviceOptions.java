package io.jvmm.virtio.vhost.frontend;

import io.jvmm.chardev.SocketChardevSpec;
import java.time.Duration;
import java.util.Objects;

/**
 * How a vhost-user device reaches and treats its back-end.
 *
 * @param id           the device id (named in every log line)
 * @param chardev      the socket to the back-end (client: we connect; server: it connects)
 * @param syncVring    rule 1 (QEMU-style property {@value #SYNC_VRING_PROPERTY}, default on):
 *                     SET_VRING_* are acknowledged before the guest's write completes. Off
 *                     restores the historic fire-and-forget messages, to reproduce their races.
 * @param replyTimeout how long any reply may take; past it the back-end is declared dead and
 *                     the device broken (it must stay below the vCPU's own write bound)
 */
public record VhostUserDeviceOptions(String id, SocketChardevSpec chardev, boolean syncVring, Duration replyTimeout) {
    public static final String SYNC_VRING_PROPERTY = "x-sync-vring";
    public static final Duration DEFAULT_REPLY_TIMEOUT = Duration.ofSeconds(5);

    public VhostUserDeviceOptions {
        if (id == null || id.isBlank()) {
            throw new IllegalArgumentException("a vhost-user device needs an id");
        }
        Objects.requireNonNull(chardev, () -> id + ": chardev");
        Objects.requireNonNull(replyTimeout, () -> id + ": replyTimeout");
        if (replyTimeout.isNegative() || replyTimeout.isZero()) {
            throw new IllegalArgumentException(id + ": reply timeout must be positive, got " + replyTimeout);
        }
    }

    /** Defaults: synchronous SET_VRING_*, 5 s reply timeout. */
    public static VhostUserDeviceOptions of(String id, SocketChardevSpec chardev) {
        return new VhostUserDeviceOptions(id, chardev, true, DEFAULT_REPLY_TIMEOUT);
    }

    public VhostUserDeviceOptions withSyncVring(boolean sync) {
        return new VhostUserDeviceOptions(id, chardev, sync, replyTimeout);
    }

    public VhostUserDeviceOptions withReplyTimeout(Duration timeout) {
        return new VhostUserDeviceOptions(id, chardev, syncVring, timeout);
    }

    /** Parses the value of {@value #SYNC_VRING_PROPERTY}: on/off (also true/false, yes/no). */
    public static boolean parseSyncVring(String value) {
        return switch (value) {
            case "on", "true", "yes" -> true;
            case "off", "false", "no" -> false;
            default -> throw new IllegalArgumentException(SYNC_VRING_PROPERTY + "=" + value + " is not on/off");
        };
    }
}
