package io.jvmm.platform.registry;

/** Categories for {@code -device help}, named as QEMU names them. */
public enum DeviceCategory {
    STORAGE("Storage devices"),
    NETWORK("Network devices"),
    MISC("Misc devices");

    private final String heading;

    DeviceCategory(String heading) {
        this.heading = heading;
    }

    public String heading() {
        return heading;
    }
}
