package io.jvmm.devices.p9.server;

/** How file ownership and modes are kept, as QEMU's -fsdev local security_model= defines them. */
public enum SecurityModel {
    /** Real owners and modes on the host (the server runs as root to give them). */
    PASSTHROUGH("passthrough"),
    /** Files belong to the server's user; owner, group, mode and device numbers live in user.virtfs.* xattrs. */
    MAPPED_XATTR("mapped-xattr"),
    /** Like passthrough, but ownership changes that fail are ignored. */
    NONE("none");

    private final String option;

    SecurityModel(String option) {
        this.option = option;
    }

    public String option() {
        return option;
    }

    public static SecurityModel parse(String text) {
        for (SecurityModel m : values()) {
            if (m.option.equals(text) || (m == MAPPED_XATTR && text.equals("mapped"))) {
                return m;
            }
        }
        throw new IllegalArgumentException("security_model=" + text + " is not one of passthrough, mapped-xattr, none");
    }
}
