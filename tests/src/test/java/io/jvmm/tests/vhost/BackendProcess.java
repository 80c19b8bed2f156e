package io.jvmm.tests.vhost;

import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.VhostUserBackendMain;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The Java vhost-user back-end ({@link VhostUserBackendMain}) as a separate process on this
 * JVM's classpath, listening on a socket as virtiofsd would (or connecting to one). Its output
 * goes to a file for failure messages.
 */
public final class BackendProcess implements AutoCloseable {
    private final Process process;
    private final Path log;

    private BackendProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /**
     * @param client connect to a front-end listening on socket (retrying), instead of listening
     */
    public static BackendProcess start(Path socket, String name, int queues, BackendFaults faults, boolean client) {
        return start(socket, name, queues, faults, client, List.of());
    }

    /** As {@link #start(Path, String, int, BackendFaults, boolean)}, with more arguments for {@link VhostUserBackendMain}. */
    public static BackendProcess start(Path socket, String name, int queues, BackendFaults faults, boolean client, List<String> more) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx96m");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-XX:TieredStopAtLevel=1");
        String logback = System.getProperty("logback.configurationFile");
        if (logback != null) {
            cmd.add("-Dlogback.configurationFile=" + logback);
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(VhostUserBackendMain.class.getName());
        cmd.add("--socket-path=" + socket);
        cmd.add("--name=" + name);
        cmd.add("--queues=" + queues);
        cmd.add("--faults=" + faults.format());
        if (client) {
            cmd.add("--client");
            cmd.add("--connect-timeout-ms=30000");
        }
        cmd.addAll(more);
        try {
            Path out = Files.createTempFile(socket.getParent(), "backend-" + name, ".log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            return new BackendProcess(p, out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the back-end process", e);
        }
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** SIGKILL, as a crashing back-end: no goodbye on the socket beyond what the kernel does. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            throw new AssertionError("back-end " + pid() + " did not die");
        }
    }

    /** Waits for the process to end by itself (it does once its connection ends). */
    public boolean awaitExit(Duration timeout) throws InterruptedException {
        return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    public String output() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(cannot read back-end output: " + e + ")";
        }
    }

    /**
     * The session statistics the back-end logs when its connection ends
     * ({@link io.jvmm.virtio.vhost.backend.VhostUserBackend#statsLine()}), or null before that.
     */
    public String sessionStats() {
        String marker = "session stats: ";
        String last = null;
        for (String line : output().split("\n")) {
            int at = line.indexOf(marker);
            if (at >= 0) {
                last = line.substring(at + marker.length()).trim();
            }
        }
        return last;
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroy();
            try {
                if (!process.waitFor(5, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                process.destroyForcibly();
            }
        }
    }
}
