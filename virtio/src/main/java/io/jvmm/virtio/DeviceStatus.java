package io.jvmm.virtio;

import java.util.ArrayList;
import java.util.List;

/** The device status field's bits (virtio 1.x section 2.1) and a readable rendering of them. */
public final class DeviceStatus {
    public static final int ACKNOWLEDGE = 1;
    public static final int DRIVER = 2;
    public static final int DRIVER_OK = 4;
    public static final int FEATURES_OK = 8;
    public static final int DEVICE_NEEDS_RESET = 64;
    public static final int FAILED = 128;

    private DeviceStatus() {
    }

    public static String describe(int status) {
        if (status == 0) {
            return "RESET";
        }
        List<String> names = new ArrayList<>();
        String[] all = {"ACKNOWLEDGE", "DRIVER", "DRIVER_OK", "FEATURES_OK", "0x10", "0x20", "DEVICE_NEEDS_RESET", "FAILED"};
        for (int i = 0; i < 8; i++) {
            if ((status & (1 << i)) != 0) {
                names.add(all[i]);
            }
        }
        return String.join("|", names);
    }
}
