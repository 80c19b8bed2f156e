package io.jvmm.platform.registry;

/** The command-line options that define back-ends, and the name of the key that selects the type. */
public enum BackendKind {
    /** {@code -drive file=..,format=..}: a disk image; one type, "drive", whose format property says how to read it. */
    DRIVE("-drive", null),
    /** {@code -blockdev driver=..}: a block node (room for the NBD and qcow2 back-ends). */
    BLOCKDEV("-blockdev", "driver"),
    /** {@code -chardev socket,...}. */
    CHARDEV("-chardev", "backend"),
    /** {@code -object memory-backend-memfd,...}. */
    OBJECT("-object", "qom-type"),
    /** {@code -fsdev local,...}: a directory to share (virtio-9p). */
    FSDEV("-fsdev", "fsdriver");

    private final String optionName;
    private final String typeKey;

    BackendKind(String optionName, String typeKey) {
        this.optionName = optionName;
        this.typeKey = typeKey;
    }

    public String optionName() {
        return optionName;
    }

    /** The property naming the type when it is not the bare first element; null when the kind has one type. */
    public String typeKey() {
        return typeKey;
    }
}
