package io.jvmm.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Debian's virtiofsd (QEMU 7.2's, in qemu-system-common) serving a directory on a vhost-user
 * socket, as a separate process for the length of a benchmark trial. Options as the tests use
 * them: sandbox=chroot (containers refuse the namespace sandbox), cache=none (every request
 * reaches the daemon, so what is measured is the device path, not the guest's cache).
 */
final class BenchVirtiofsd implements AutoCloseable {
    static final Path BINARY = Path.of("/usr/lib/qemu/virtiofsd");

    final Path socket;
    private final Path logFile;
    private final Process process;

    private BenchVirtiofsd(Path socket, Path logFile, Process process) {
        this.socket = socket;
        this.logFile = logFile;
        this.process = process;
    }

    static BenchVirtiofsd start(Path shared, Path workDir) throws IOException, InterruptedException {
        if (!Files.isExecutable(BINARY)) {
            throw new IllegalStateException("virtiofsd is not installed at " + BINARY + " (apt-get install qemu-system-common)");
        }
        Path socket = workDir.resolve("vfsd.sock");
        Path logFile = workDir.resolve("virtiofsd.log");
        Files.deleteIfExists(socket);
        List<String> command = List.of(BINARY.toString(), "--socket-path=" + socket, "-o", "source=" + shared,
                "-o", "sandbox=chroot", "-o", "cache=none", "-o", "log_level=warn");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(logFile.toFile()).start();
        BenchVirtiofsd d = new BenchVirtiofsd(socket, logFile, p);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!Files.exists(socket)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                String log = d.log();
                d.close();
                throw new IllegalStateException("virtiofsd did not create " + socket + ": " + log);
            }
            Thread.sleep(10);
        }
        return d;
    }

    long pid() {
        return process.pid();
    }

    boolean alive() {
        return process.isAlive();
    }

    String log() {
        try {
            return Files.readString(logFile);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + logFile, e);
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
