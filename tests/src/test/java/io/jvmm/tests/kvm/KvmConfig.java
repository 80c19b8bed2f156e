package io.jvmm.tests.kvm;

import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.Registry;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** A KVM machine's configuration from jvmm's options, validated through the registry as the command line does. */
public final class KvmConfig {
    private KvmConfig() {
    }

    public static MachineConfig parse(String memory, String smp, Path kernel, Path initrd, String append, boolean noReboot,
                               List<String> objects, List<String> chardevs, List<String> drives, List<String> devices) {
        Map<BackendKind, List<String>> backends = new EnumMap<>(BackendKind.class);
        backends.put(BackendKind.OBJECT, objects);
        backends.put(BackendKind.CHARDEV, chardevs);
        backends.put(BackendKind.DRIVE, drives);
        return parse(memory, smp, kernel, initrd, append, noReboot, backends, devices);
    }

    /** As above, with every kind of back-end option (-fsdev, -blockdev ...) given by kind. */
    public static MachineConfig parse(String memory, String smp, Path kernel, Path initrd, String append, boolean noReboot,
                                      Map<BackendKind, List<String>> backends, List<String> devices) {
        return ConfigParser.parse(Registry.load(), new ConfigParser.RawOptions(memory, smp, kernel, initrd, append, noReboot,
                new EnumMap<>(backends), devices));
    }
}
