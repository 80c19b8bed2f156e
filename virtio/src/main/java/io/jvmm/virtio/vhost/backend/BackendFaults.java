package io.jvmm.virtio.vhost.backend;

import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.VhostUserRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Misbehaviour a {@link VhostUserBackend} can be told to show, to test that the front-end
 * survives it, and the historic races it reproduces.
 *
 * @param messageDelay           pause before handling each message
 * @param callSwitchDelay        pause between receiving SET_VRING_CALL and using the new fd (the
 *                               old one keeps being signalled meanwhile)
 * @param enableDelay            pause before applying SET_VRING_ENABLE
 * @param closeAtMessage         close the connection on receiving the N-th message (1-based; 0 never)
 * @param stallAtMessage         on receiving the N-th message, stop answering anything (0 never)
 * @param replyFault             how to spoil one reply (null: none)
 * @param replyFaultOn           the request whose reply is spoiled
 * @param replyFaultOccurrence   which occurrence of that request (1 = the first)
 * @param dropKicksWhileDisabled break rule 3: a kick on a started but disabled ring is consumed
 *                               and forgotten instead of served once the ring is enabled
 * @param hiddenProtocolFeatures protocol features not offered (e.g. REPLY_ACK, as old back-ends)
 */
public record BackendFaults(Duration messageDelay, Duration callSwitchDelay, Duration enableDelay, int closeAtMessage,
        int stallAtMessage, ReplyFault replyFault, VhostUserRequest replyFaultOn, int replyFaultOccurrence, boolean dropKicksWhileDisabled,
        long hiddenProtocolFeatures) {

    public static final BackendFaults NONE = new BackendFaults(Duration.ZERO, Duration.ZERO, Duration.ZERO, 0, 0, null, null, 1, false, 0);

    public BackendFaults {
        for (Duration d : new Duration[] {messageDelay, callSwitchDelay, enableDelay}) {
            if (d == null || d.isNegative()) {
                throw new IllegalArgumentException("back-end fault delays must be zero or positive, got " + d);
            }
        }
        if (closeAtMessage < 0 || stallAtMessage < 0 || replyFaultOccurrence < 1) {
            throw new IllegalArgumentException("close-at-message and stall-at-message must be >= 0, the reply fault occurrence >= 1");
        }
        if ((replyFault == null) != (replyFaultOn == null)) {
            throw new IllegalArgumentException("a reply fault needs both a kind and a request");
        }
    }

    public BackendFaults withMessageDelay(Duration d) {
        return new BackendFaults(d, callSwitchDelay, enableDelay, closeAtMessage, stallAtMessage, replyFault, replyFaultOn,
                replyFaultOccurrence, dropKicksWhileDisabled, hiddenProtocolFeatures);
    }

    public BackendFaults withCallSwitchDelay(Duration d) {
        return new BackendFaults(messageDelay, d, enableDelay, closeAtMessage, stallAtMessage, replyFault, replyFaultOn,
                replyFaultOccurrence, dropKicksWhileDisabled, hiddenProtocolFeatures);
    }

    public BackendFaults withEnableDelay(Duration d) {
        return new BackendFaults(messageDelay, callSwitchDelay, d, closeAtMessage, stallAtMessage, replyFault, replyFaultOn,
                replyFaultOccurrence, dropKicksWhileDisabled, hiddenProtocolFeatures);
    }

    public BackendFaults withCloseAtMessage(int n) {
        return new BackendFaults(messageDelay, callSwitchDelay, enableDelay, n, stallAtMessage, replyFault, replyFaultOn,
                replyFaultOccurrence, dropKicksWhileDisabled, hiddenProtocolFeatures);
    }

    public BackendFaults withStallAtMessage(int n) {
        return new BackendFaults(messageDelay, callSwitchDelay, enableDelay, closeAtMessage, n, replyFault, replyFaultOn,
                replyFaultOccurrence, dropKicksWhileDisabled, hiddenProtocolFeatures);
    }

    public BackendFaults withReplyFault(ReplyFault fault, VhostUserRequest on, int occurrence) {
        return new BackendFaults(messageDelay, callSwitchDelay, enableDelay, closeAtMessage, stallAtMessage, fault, on, occurrence,
                dropKicksWhileDisabled, hiddenProtocolFeatures);
    }

    public BackendFaults withDropKicksWhileDisabled(boolean drop) {
        return new BackendFaults(messageDelay, callSwitchDelay, enableDelay, closeAtMessage, stallAtMessage, replyFault,
                replyFaultOn, replyFaultOccurrence, drop, hiddenProtocolFeatures);
    }

    public BackendFaults withHiddenProtocolFeatures(long bits) {
        return new BackendFaults(messageDelay, callSwitchDelay, enableDelay, closeAtMessage, stallAtMessage, replyFault,
                replyFaultOn, replyFaultOccurrence, dropKicksWhileDisabled, bits);
    }

    /**
     * Parses the command-line form {@link #format()} writes: comma-separated
     * {@code message-delay-us=N}, {@code call-switch-delay-us=N}, {@code enable-delay-us=N},
     * {@code close-at-message=N}, {@code stall-at-message=N}, {@code reply-fault=KIND@REQUEST[#OCCURRENCE]},
     * {@code drop-kicks-while-disabled}, {@code hide-protocol-features=NAME|NAME} (bit names of
     * {@link ProtocolFeatures}, or numbers). Empty or "none" is {@link #NONE}.
     */
    public static BackendFaults parse(String text) {
        BackendFaults f = NONE;
        if (text == null || text.isBlank() || text.equals("none")) {
            return f;
        }
        for (String item : text.split(",")) {
            int eq = item.indexOf('=');
            String key = eq < 0 ? item.trim() : item.substring(0, eq).trim();
            String value = eq < 0 ? "" : item.substring(eq + 1).trim();
            try {
                f = switch (key) {
                    case "message-delay-us" -> f.withMessageDelay(Duration.ofNanos(Long.parseLong(value) * 1000));
                    case "call-switch-delay-us" -> f.withCallSwitchDelay(Duration.ofNanos(Long.parseLong(value) * 1000));
                    case "enable-delay-us" -> f.withEnableDelay(Duration.ofNanos(Long.parseLong(value) * 1000));
                    case "close-at-message" -> f.withCloseAtMessage(Integer.parseInt(value));
                    case "stall-at-message" -> f.withStallAtMessage(Integer.parseInt(value));
                    case "reply-fault" -> parseReplyFault(f, value);
                    case "drop-kicks-while-disabled" -> f.withDropKicksWhileDisabled(true);
                    case "hide-protocol-features" -> f.withHiddenProtocolFeatures(parseProtocolBits(value));
                    default -> throw new IllegalArgumentException("unknown fault '" + key + "'");
                };
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("back-end faults '" + text + "': " + item + ": " + e.getMessage(), e);
            }
        }
        return f;
    }

    private static BackendFaults parseReplyFault(BackendFaults f, String value) {
        int at = value.indexOf('@');
        if (at < 0) {
            throw new IllegalArgumentException("reply-fault is KIND@REQUEST[#N]");
        }
        String rest = value.substring(at + 1);
        int hash = rest.indexOf('#');
        int occurrence = hash < 0 ? 1 : Integer.parseInt(rest.substring(hash + 1));
        String request = hash < 0 ? rest : rest.substring(0, hash);
        return f.withReplyFault(ReplyFault.valueOf(value.substring(0, at)), VhostUserRequest.valueOf(request), occurrence);
    }

    private static long parseProtocolBits(String value) {
        long bits = 0;
        for (String name : value.split("\\|")) {
            bits |= switch (name.trim()) {
                case "MQ" -> ProtocolFeatures.bit(ProtocolFeatures.MQ);
                case "REPLY_ACK" -> ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK);
                case "CONFIG" -> ProtocolFeatures.bit(ProtocolFeatures.CONFIG);
                case "RESET_DEVICE" -> ProtocolFeatures.bit(ProtocolFeatures.RESET_DEVICE);
                default -> ProtocolFeatures.bit(Integer.parseInt(name.trim()));
            };
        }
        return bits;
    }

    /** The command-line form of these faults ("none" for {@link #NONE}). */
    public String format() {
        List<String> items = new ArrayList<>();
        if (!messageDelay.isZero()) {
            items.add("message-delay-us=" + messageDelay.toNanos() / 1000);
        }
        if (!callSwitchDelay.isZero()) {
            items.add("call-switch-delay-us=" + callSwitchDelay.toNanos() / 1000);
        }
        if (!enableDelay.isZero()) {
            items.add("enable-delay-us=" + enableDelay.toNanos() / 1000);
        }
        if (closeAtMessage > 0) {
            items.add("close-at-message=" + closeAtMessage);
        }
        if (stallAtMessage > 0) {
            items.add("stall-at-message=" + stallAtMessage);
        }
        if (replyFault != null) {
            items.add("reply-fault=" + replyFault + "@" + replyFaultOn + "#" + replyFaultOccurrence);
        }
        if (dropKicksWhileDisabled) {
            items.add("drop-kicks-while-disabled");
        }
        if (hiddenProtocolFeatures != 0) {
            List<String> bits = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                if ((hiddenProtocolFeatures & (1L << i)) != 0) {
                    bits.add(Integer.toString(i));
                }
            }
            items.add("hide-protocol-features=" + String.join("|", bits));
        }
        return items.isEmpty() ? "none" : String.join(",", items);
    }

    /** Sleeps for d; spins below a millisecond, where parking would overshoot by tens of microseconds. */
    static void pause(Duration d) {
        if (d.isZero()) {
            return;
        }
        long end = System.nanoTime() + d.toNanos();
        for (long left; (left = end - System.nanoTime()) > 0; ) {
            if (left > 1_000_000) {
                LockSupport.parkNanos(left - 500_000);
            } else {
                Thread.onSpinWait();
            }
        }
    }
}
