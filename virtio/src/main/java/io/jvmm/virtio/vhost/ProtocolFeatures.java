package io.jvmm.virtio.vhost;

import java.util.ArrayList;
import java.util.List;

/**
 * vhost-user feature bits: VHOST_USER_F_PROTOCOL_FEATURES (bit 30 of GET_FEATURES) and the
 * protocol feature bits of GET/SET_PROTOCOL_FEATURES that jvmm uses.
 */
public final class ProtocolFeatures {
    /** Bit 30 of the (virtio) feature word: the back-end speaks protocol features. Never offered to a guest. */
    public static final int F_PROTOCOL_FEATURES = 30;

    public static final int MQ = 0;
    public static final int LOG_SHMFD = 1;
    public static final int REPLY_ACK = 3;
    public static final int BACKEND_REQ = 5;
    public static final int CONFIG = 9;
    public static final int RESET_DEVICE = 13;
    public static final int INBAND_NOTIFICATIONS = 14;
    public static final int CONFIGURE_MEM_SLOTS = 15;
    public static final int STATUS = 16;

    private static final String[] NAMES = {"MQ", "LOG_SHMFD", "RARP", "REPLY_ACK", "MTU", "BACKEND_REQ", "CROSS_ENDIAN",
        "CRYPTO_SESSION", "PAGEFAULT", "CONFIG", "BACKEND_SEND_FD", "HOST_NOTIFIER", "INFLIGHT_SHMFD", "RESET_DEVICE",
        "INBAND_NOTIFICATIONS", "CONFIGURE_MEM_SLOTS", "STATUS"};

    private ProtocolFeatures() {
    }

    public static long bit(int n) {
        return 1L << n;
    }

    public static boolean has(long features, int n) {
        return (features & bit(n)) != 0;
    }

    /** "REPLY_ACK|CONFIG" for logs. */
    public static String describe(long features) {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            if ((features & (1L << i)) != 0) {
                names.add(i < NAMES.length ? NAMES[i] : "bit" + i);
            }
        }
        return names.isEmpty() ? "none" : String.join("|", names);
    }
}
