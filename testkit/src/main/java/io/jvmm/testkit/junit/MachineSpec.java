package io.jvmm.testkit.junit;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/** What a machine of the extension is made of: options, RAM, life, back-ends, and report sizes. */
record MachineSpec(List<String> options, String memory, JvmmMachine.Lifecycle lifecycle, List<BackendSpec> backends,
                   Duration backendTimeout, int logLines) {

    MachineSpec {
        options = List.copyOf(options);
        backends = List.copyOf(backends);
        Objects.requireNonNull(lifecycle, "lifecycle");
        if (options.size() % 2 != 0) {
            throw new IllegalArgumentException("@JvmmMachine options come in pairs (-option value), got " + options.size()
                    + " words: " + options);
        }
        if (backendTimeout.isNegative() || backendTimeout.isZero()) {
            throw new IllegalArgumentException("the back-end timeout must be positive, got " + backendTimeout);
        }
        if (logLines < 0) {
            throw new IllegalArgumentException("logLines must be >= 0, got " + logLines);
        }
        long distinct = backends.stream().map(BackendSpec::name).distinct().count();
        if (distinct != backends.size()) {
            throw new IllegalArgumentException("two back-ends have the same name: " + backends);
        }
    }

    static MachineSpec of(JvmmMachine a) {
        return new MachineSpec(Arrays.asList(a.options()), a.memory(), a.lifecycle(),
                Arrays.stream(a.backends()).map(b -> new BackendSpec(b.name(), Arrays.asList(b.command()), b.awaitSocket())).toList(),
                Duration.ofSeconds(a.backendTimeoutSeconds()), a.logLines());
    }

    /** A back-end process: its name, command line (with placeholders) and whether to wait for its socket. */
    record BackendSpec(String name, List<String> command, boolean awaitSocket) {
        BackendSpec {
            Objects.requireNonNull(name, "name");
            if (!name.matches("[A-Za-z0-9_.-]+")) {
                throw new IllegalArgumentException("a back-end name is letters, digits, '.', '_' or '-': '" + name + "'");
            }
            command = List.copyOf(command);
            if (command.isEmpty()) {
                throw new IllegalArgumentException("back-end '" + name + "' has no command");
            }
        }
    }
}
