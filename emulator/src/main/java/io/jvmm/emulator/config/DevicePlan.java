package io.jvmm.emulator.config;

/** A validated {@code -device}: what to build, with every property checked. */
public sealed interface DevicePlan permits DevicePlan.VirtioBlk, DevicePlan.VirtioRng, DevicePlan.VhostUserFs, DevicePlan.DebugExit {
    /** The device's id (given, or generated from the driver name). */
    String id();

    String driver();

    record VirtioBlk(String id, DrivePlan drive, String serial, int queueSize) implements DevicePlan {
        public String driver() {
            return "virtio-blk-pci";
        }
    }

    record VirtioRng(String id) implements DevicePlan {
        public String driver() {
            return "virtio-rng-pci";
        }
    }

    record VhostUserFs(String id, io.jvmm.chardev.SocketChardevSpec chardev, String tag, int requestQueues, int queueSize,
                       boolean syncVring) implements DevicePlan {
        public String driver() {
            return "vhost-user-fs-pci";
        }
    }

    record DebugExit(String id, int iobase, int iosize) implements DevicePlan {
        public String driver() {
            return "isa-debug-exit";
        }
    }
}
