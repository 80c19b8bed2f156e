package io.jvmm.testkit.junit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A back-end process the extension started for a machine: its command, its output (kept in a
 * file of the machine's work directory), its socket. Closing it ends it and the processes it
 * started: SIGTERM, then SIGKILL after a few seconds.
 */
public final class BackendProcess implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(BackendProcess.class);
    private static final Duration TERM_GRACE = Duration.ofSeconds(5);

    private final String name;
    private final List<String> command;
    private final Path socket;
    private final Path output;
    private final Process process;

    private BackendProcess(String name, List<String> command, Path socket, Path output, Process process) {
        this.name = name;
        this.command = command;
        this.socket = socket;
        this.output = output;
        this.process = process;
    }

    /**
     * Starts {@code command} with its output in {@code output}; with {@code awaitSocket}, returns
     * once {@code socket} exists. The extension starts {@link JvmmBackend}s this way; a test may
     * start other peers with it too.
     *
     * @throws IllegalStateException if it cannot start, exits first, or is not ready within {@code timeout},
     *                               with its output
     */
    public static BackendProcess start(String name, List<String> command, Path socket, Path output, boolean awaitSocket,
                                Duration timeout) {
        Process p;
        try {
            Files.deleteIfExists(socket);
            p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
        } catch (IOException e) {
            throw new IllegalStateException("back-end '" + name + "': cannot start " + command + ": " + e.getMessage(), e);
        }
        BackendProcess b = new BackendProcess(name, command, socket, output, p);
        log.debug("back-end {} started (pid {}): {}", name, p.pid(), command);
        if (awaitSocket) {
            long deadline = System.nanoTime() + timeout.toNanos();
            long park = 20_000;
            while (!Files.exists(socket)) {
                if (!p.isAlive() || System.nanoTime() - deadline > 0) {
                    String why = p.isAlive() ? "did not create " + socket + " within " + timeout.toSeconds() + " s"
                            : "exited with status " + p.exitValue() + " before creating " + socket;
                    b.close();
                    throw new IllegalStateException("back-end '" + name + "' " + why + "; command: " + String.join(" ", command)
                            + "; its output:\n" + b.outputTail(30));
                }
                LockSupport.parkNanos(park);
                park = Math.min(park * 2, 10_000_000);
            }
        }
        return b;
    }

    public String name() {
        return name;
    }

    public List<String> command() {
        return command;
    }

    /** {@code {socket:NAME}}. */
    public Path socket() {
        return socket;
    }

    /** The file its standard output and error go to. */
    public Path outputFile() {
        return output;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** The exit status once it has ended. */
    public Optional<Integer> exitStatus() {
        return process.isAlive() ? Optional.empty() : Optional.of(process.exitValue());
    }

    /** The last {@code lines} lines of its output. */
    public String outputTail(int lines) {
        try {
            List<String> all = Files.readAllLines(output, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException | UncheckedIOException e) {
            return "(its output cannot be read: " + e + ")";
        }
    }

    /** SIGKILL, as a crash would end it (its children too); returns once it is gone. */
    public void kill() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        awaitExit(TERM_GRACE);
    }

    /** One line for reports: name, pid, running or its exit status. */
    public String describe() {
        return name + " (pid " + process.pid() + ", " + exitStatus().map(s -> "exited with status " + s).orElse("running") + ")";
    }

    @Override
    public void close() {
        List<ProcessHandle> children = process.descendants().toList();
        process.destroy();
        children.forEach(ProcessHandle::destroy);
        if (!awaitExit(TERM_GRACE)) {
            log.warn("back-end {} (pid {}) did not end within {} s of SIGTERM; killing it", name, process.pid(), TERM_GRACE.toSeconds());
            process.destroyForcibly();
            awaitExit(TERM_GRACE);
        }
        children.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
    }

    private boolean awaitExit(Duration bound) {
        try {
            return process.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Override
    public String toString() {
        return describe();
    }
}
