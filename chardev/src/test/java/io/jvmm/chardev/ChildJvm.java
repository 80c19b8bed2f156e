package io.jvmm.chardev;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A separate JVM running a main class from the test classpath, for tests that need a real
 * second process (fd passing, crash isolation). Output goes to a file that {@link #output()}
 * returns for assertion messages. Shared with other modules through the test-jar.
 */
public final class ChildJvm implements AutoCloseable {
    private final Process process;
    private final Path log;
    private final String mainClass;

    private ChildJvm(Process process, Path log, String mainClass) {
        this.process = process;
        this.log = log;
        this.mainClass = mainClass;
    }

    /** Starts {@code java -cp <this JVM's classpath> mainClass args...}. */
    public static ChildJvm start(Class<?> mainClass, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx64m");
        String logback = System.getProperty("logback.configurationFile");
        if (logback != null) {
            cmd.add("-Dlogback.configurationFile=" + logback);
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass.getName());
        cmd.addAll(List.of(args));
        try {
            Path out = Files.createTempFile("child-" + mainClass.getSimpleName(), ".log");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
            return new ChildJvm(p, out, mainClass.getSimpleName());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start child JVM " + mainClass.getName(), e);
        }
    }

    /**
     * Waits for the child to exit and returns its exit code; destroys it and throws
     * AssertionError (with its output) if it runs longer than timeout.
     */
    public int awaitExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("child " + mainClass + " still running after " + timeout.toMillis()
                        + " ms; destroyed. Output:\n" + output());
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
            throw new AssertionError("interrupted waiting for child " + mainClass, e);
        }
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Everything the child printed so far. */
    public String output() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(cannot read child output: " + e + ")";
        }
    }

    /** Kills the child if still running and removes its output file. */
    @Override
    public void close() {
        if (process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            Files.deleteIfExists(log);
        } catch (IOException e) {
            // a leftover temp file is harmless
        }
    }
}
