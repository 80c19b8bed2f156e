package io.jvmm.testkit.driver.virtio;

/** Device status bits (virtio 1.x, 2.1), written out on the guest side. */
public final class VirtioStatus {
    public static final int ACKNOWLEDGE = 1;
    public static final int DRIVER = 2;
    public static final int DRIVER_OK = 4;
    public static final int FEATURES_OK = 8;
    public static final int DEVICE_NEEDS_RESET = 0x40;
    public static final int FAILED = 0x80;

    private VirtioStatus() {
    }

    /** "ACKNOWLEDGE|DRIVER|..." for messages. */
    public static String describe(int status) {
        if (status == 0) {
            return "0 (reset)";
        }
        String[] names = {"ACKNOWLEDGE", "DRIVER", "DRIVER_OK", "FEATURES_OK", "bit4", "bit5", "DEVICE_NEEDS_RESET", "FAILED"};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if ((status & (1 << i)) != 0) {
                sb.append(sb.length() == 0 ? "" : "|").append(names[i]);
            }
        }
        return sb.toString();
    }
}
