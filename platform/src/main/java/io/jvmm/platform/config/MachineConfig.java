package io.jvmm.platform.config;

import io.jvmm.platform.backends.MemoryBackendOptions;
import io.jvmm.platform.registry.BackendKind;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Everything the user asked for, validated before anything is created: a machine built from a
 * MachineConfig fails only on the host (KVM, files, back-ends), never on a typo.
 *
 * @param ram      the memory back-end that is the guest's RAM (given with -object, or made from -m)
 * @param kernel   null when no guest is booted (the vfio-user server, the no-CPU machine)
 * @param backends every back-end by kind and id
 */
public record MachineConfig(
        MemoryBackendOptions ram,
        int cpus,
        Path kernel,
        Path initrd,
        String append,
        boolean noReboot,
        Map<BackendKind, Map<String, BackendConfig<?>>> backends,
        List<DeviceConfig<?>> devices) {

    public long ramBytes() {
        return ram.size();
    }
}
