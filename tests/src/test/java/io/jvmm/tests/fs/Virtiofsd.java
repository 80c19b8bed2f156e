package io.jvmm.tests.fs;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.jvmm.chardev.Await;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The virtiofsd Debian ships (QEMU 7.2's C daemon in qemu-system-common), run as a separate
 * process on a shared directory, listening on a vhost-user socket; its log goes to a file that
 * errors quote.
 */
public final class Virtiofsd implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Virtiofsd.class);
    public static final Path BINARY = Path.of("/usr/lib/qemu/virtiofsd");

    public final Path shared;
    public final Path socket;
    public final Path logFile;
    private final Process process;

    private Virtiofsd(Path shared, Path socket, Path logFile, Process process) {
        this.shared = shared;
        this.socket = socket;
        this.logFile = logFile;
        this.process = process;
    }

    public static boolean available() {
        return Files.isExecutable(BINARY);
    }

    /**
     * Starts virtiofsd on {@code shared} and waits (bounded) for its socket to appear.
     * sandbox=chroot because a container may refuse the namespaces of the default sandbox.
     */
    public static Virtiofsd start(Path shared, Path workDir) {
        Path socket = workDir.resolve("vfsd.sock");
        Path logFile = workDir.resolve("virtiofsd.log");
        List<String> command = List.of(BINARY.toString(), "--socket-path=" + socket, "-o", "source=" + shared,
                "-o", "sandbox=chroot", "-o", "cache=none", "-o", "log_level=info");
        try {
            Files.deleteIfExists(socket);
            Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(logFile.toFile()).start();
            Virtiofsd d = new Virtiofsd(shared, socket, logFile, p);
            long deadline = System.nanoTime() + Await.HANG_GUARD.toNanos();
            while (!Files.exists(socket)) {
                if (!p.isAlive() || System.nanoTime() > deadline) {
                    d.close();
                    throw new IllegalStateException("virtiofsd did not create " + socket + " (" + (p.isAlive() ? "timed out" : "exited " + p.exitValue())
                            + "): " + d.logTail());
                }
                Thread.sleep(10);
            }
            log.debug("virtiofsd pid {} serving {} on {}", p.pid(), shared, socket);
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException("starting " + command, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted starting virtiofsd", e);
        }
    }

    /** SIGKILL, as a crash would end it; returns once it is gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
    }

    public boolean alive() {
        return process.isAlive();
    }

    /** The end of virtiofsd's log, for error messages. */
    public String logTail() {
        try {
            String all = Files.readString(logFile);
            return all.length() > 2000 ? all.substring(all.length() - 2000) : all;
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
