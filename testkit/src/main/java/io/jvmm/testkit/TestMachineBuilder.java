package io.jvmm.testkit;

import io.jvmm.platform.assembly.MachineAssembly;
import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.Registry;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Builds a {@link TestMachine} from QEMU-style options, as jvmm's command line would:
 * <pre>{@code
 * try (TestMachine m = TestMachine.builder()
 *         .option("-drive", "file=disk.img,format=raw,if=none,id=d0")
 *         .option("-device", "virtio-blk-pci,drive=d0,serial=test")
 *         .build()) { ... }
 * }</pre>
 * Device and back-end types are found in the {@link Registry} (the class path's
 * {@code META-INF/services}), so any device jar on the test class path can be used.
 */
public final class TestMachineBuilder {
    private String memory;
    private final Map<BackendKind, List<String>> backends = new EnumMap<>(BackendKind.class);
    private final List<String> devices = new ArrayList<>();
    private final List<String> qmp = new ArrayList<>();
    private Registry registry = Registry.load();
    private MeterRegistry meters;

    TestMachineBuilder() {
    }

    /** Guest RAM, as -m takes it ("128M", "1G"; a bare number is MiB). Default 128 MiB. */
    public TestMachineBuilder memory(String size) {
        this.memory = size;
        return this;
    }

    /**
     * One option: {@code -device}, {@code -drive}, {@code -chardev}, {@code -object}, {@code -fsdev},
     * {@code -blockdev}, or {@code -qmp} (a QMP server for the machine: {@code unix:PATH,server=on,wait=off}).
     */
    public TestMachineBuilder option(String name, String value) {
        if (name.equals("-qmp")) {
            qmp.add(value);
            return this;
        }
        if (name.equals("-device")) {
            devices.add(value);
            return this;
        }
        if (name.equals("-m")) {
            return memory(value);
        }
        for (BackendKind kind : BackendKind.values()) {
            if (kind.optionName().equals(name)) {
                backends.computeIfAbsent(kind, k -> new ArrayList<>()).add(value);
                return this;
            }
        }
        throw new UserError(name + ": not an option the no-CPU machine takes (-m, -device, -drive, -blockdev, -chardev, -object, -fsdev, -qmp)");
    }

    /** Options as a command line would give them: {@code "-device", "virtio-rng-pci", "-drive", "..."}. */
    public TestMachineBuilder args(String... args) {
        if (args.length % 2 != 0) {
            throw new UserError("options come in pairs (-option value), got " + args.length + " words");
        }
        for (int i = 0; i < args.length; i += 2) {
            option(args[i], args[i + 1]);
        }
        return this;
    }

    /** Shorthand for {@code option("-device", text)}. */
    public TestMachineBuilder device(String text) {
        return option("-device", text);
    }

    /** Devices register their meters in {@code meters} (e.g. a Prometheus registry) instead of one of the machine's own. */
    public TestMachineBuilder meters(MeterRegistry meters) {
        this.meters = meters;
        return this;
    }

    /** Looks types up in {@code registry} instead of the class path's. */
    public TestMachineBuilder registry(Registry registry) {
        this.registry = registry;
        return this;
    }

    /**
     * Validates the options, then builds the machine and its devices through the one assembly path.
     *
     * @throws UserError naming the option, device or property at fault (nothing is left open)
     */
    public TestMachine build() {
        MachineConfig config = ConfigParser.parseDevicesOnly(registry,
                new ConfigParser.RawOptions(memory, null, null, null, null, false, backends, devices));
        TestMachine machine = new TestMachine(config.ramBytes(), meters);
        try {
            machine.configured(config);
            MachineAssembly.assemble(config.devices(), machine);
            for (String spec : qmp) {
                machine.startQmp(spec);
            }
            return machine;
        } catch (RuntimeException e) {
            machine.close();
            throw e;
        }
    }
}
