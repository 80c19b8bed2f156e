package io.jvmm.monitor.qmp;

import java.util.Objects;

/**
 * A QMP error reply: {@code {"error": {"class": CLASS, "desc": DESC}}}, with QEMU's classes
 * (GenericError for almost everything, CommandNotFound, DeviceNotFound) and, where QEMU has one,
 * QEMU's text.
 */
public final class QmpError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public static final String GENERIC = "GenericError";
    public static final String COMMAND_NOT_FOUND = "CommandNotFound";
    public static final String DEVICE_NOT_FOUND = "DeviceNotFound";

    private final String errorClass;

    public QmpError(String errorClass, String desc) {
        super(Objects.requireNonNull(desc, "desc"));
        this.errorClass = Objects.requireNonNull(errorClass, "errorClass");
    }

    public static QmpError generic(String desc) {
        return new QmpError(GENERIC, desc);
    }

    public static QmpError commandNotFound(String desc) {
        return new QmpError(COMMAND_NOT_FOUND, desc);
    }

    /** QEMU's "Device 'ID' not found". */
    public static QmpError deviceNotFound(String id) {
        return new QmpError(DEVICE_NOT_FOUND, "Device '" + id + "' not found");
    }

    public String errorClass() {
        return errorClass;
    }

    public String desc() {
        return getMessage();
    }
}
