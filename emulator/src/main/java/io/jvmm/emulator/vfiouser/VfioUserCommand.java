package io.jvmm.emulator.vfiouser;

import java.util.Optional;

/** The vfio-user message commands (docs/interop/vfio-user.rst, "Commands"), by wire number. */
public enum VfioUserCommand {
    VERSION(1),
    DMA_MAP(2),
    DMA_UNMAP(3),
    DEVICE_GET_INFO(4),
    DEVICE_GET_REGION_INFO(5),
    DEVICE_GET_REGION_IO_FDS(6),
    DEVICE_GET_IRQ_INFO(7),
    DEVICE_SET_IRQS(8),
    REGION_READ(9),
    REGION_WRITE(10),
    DMA_READ(11),
    DMA_WRITE(12),
    DEVICE_RESET(13),
    REGION_WRITE_MULTI(15),
    DEVICE_FEATURE(16),
    MIG_DATA_READ(17),
    MIG_DATA_WRITE(18);

    private static final VfioUserCommand[] BY_CODE = new VfioUserCommand[19];

    static {
        for (VfioUserCommand c : values()) {
            BY_CODE[c.code] = c;
        }
    }

    private final int code;

    VfioUserCommand(int code) {
        this.code = code;
    }

    public int code() {
        return code;
    }

    /** The command with wire number {@code code}, if there is one. */
    public static Optional<VfioUserCommand> of(int code) {
        return code >= 0 && code < BY_CODE.length ? Optional.ofNullable(BY_CODE[code]) : Optional.empty();
    }

    /** "REGION_WRITE (10)", or "unknown command 99" for numbers the protocol does not define. */
    public static String describe(int code) {
        return of(code).map(c -> c.name() + " (" + code + ")").orElse("unknown command " + code);
    }
}
