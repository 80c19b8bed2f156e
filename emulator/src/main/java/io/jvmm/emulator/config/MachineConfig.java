package io.jvmm.emulator.config;

import io.jvmm.chardev.SocketChardevSpec;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Everything the user asked for, validated before anything is created: a machine built from a
 * MachineConfig fails only on the host (KVM, files), never on a typo.
 */
public record MachineConfig(
        long ramBytes,
        int cpus,
        Path kernel,
        Path initrd,
        String append,
        boolean noReboot,
        Map<String, DrivePlan> drives,
        Map<String, SocketChardevSpec> chardevs,
        List<DevicePlan> devices) {
}
