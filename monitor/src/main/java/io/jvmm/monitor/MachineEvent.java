package io.jvmm.monitor;

import java.util.Objects;

/**
 * Something a monitor reports to its clients as it happens (QMP events with QEMU's names and data).
 */
public sealed interface MachineEvent {
    /** QEMU's event name. */
    String name();

    /** The vCPUs were paused ({@code STOP}). */
    record Stop() implements MachineEvent {
        @Override
        public String name() {
            return "STOP";
        }
    }

    /** The vCPUs run again ({@code RESUME}). */
    record Resume() implements MachineEvent {
        @Override
        public String name() {
            return "RESUME";
        }
    }

    /**
     * The machine was reset ({@code RESET}).
     *
     * @param guest  whether the guest asked for it
     * @param reason QEMU's ShutdownCause: "host-qmp-system-reset", "guest-reset", ...
     */
    record Reset(boolean guest, String reason) implements MachineEvent {
        public Reset {
            Objects.requireNonNull(reason, "reason");
        }

        @Override
        public String name() {
            return "RESET";
        }
    }

    /**
     * The machine ends ({@code SHUTDOWN}).
     *
     * @param guest  whether the guest asked for it
     * @param reason QEMU's ShutdownCause: "host-qmp-quit", "guest-shutdown", "guest-panic", "host-signal", ...
     */
    record Shutdown(boolean guest, String reason) implements MachineEvent {
        public Shutdown {
            Objects.requireNonNull(reason, "reason");
        }

        @Override
        public String name() {
            return "SHUTDOWN";
        }
    }

    /**
     * A device was unplugged and is gone ({@code DEVICE_DELETED}).
     *
     * @param device its id
     * @param path   its QOM path ({@code /machine/peripheral/ID})
     */
    record DeviceDeleted(String device, String path) implements MachineEvent {
        public DeviceDeleted {
            Objects.requireNonNull(device, "device");
            Objects.requireNonNull(path, "path");
        }

        @Override
        public String name() {
            return "DEVICE_DELETED";
        }
    }

    /**
     * A block export is gone ({@code BLOCK_EXPORT_DELETED}): removed by {@code block-export-del},
     * or with its server by {@code nbd-server-stop}.
     *
     * @param id the export's id
     */
    record BlockExportDeleted(String id) implements MachineEvent {
        public BlockExportDeleted {
            Objects.requireNonNull(id, "id");
        }

        @Override
        public String name() {
            return "BLOCK_EXPORT_DELETED";
        }
    }
}
