package io.jvmm.devices.blk;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/** Debian's block tools (qemu-img, qemu-io, qemu-nbd, nbdkit, nbdinfo, nbdcopy) run as the peers of the tests. */
public final class Peers {
    private Peers() {
    }

    /** The result of a finished tool. */
    public record Result(int status, String output) {
    }

    /** Skips the test, naming the package, when {@code tool} is not installed (scripts/test installs them). */
    public static void require(String tool, String debianPackage) {
        boolean found = List.of("/usr/bin/", "/usr/sbin/", "/usr/local/bin/").stream().anyMatch(d -> Files.isExecutable(Path.of(d + tool)));
        Assumptions.assumeTrue(found, tool + " is not installed (Debian package " + debianPackage + "; scripts/test installs it)");
    }

    /** Runs a tool to completion (bounded: a hang fails the test). */
    public static Result run(Duration bound, String... cmd) {
        try {
            Path out = Files.createTempFile("peer-", ".log");
            try {
                Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile()).start();
                if (!p.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS)) {
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                    fail(String.join(" ", cmd) + " did not finish within " + bound + ": " + Files.readString(out));
                }
                return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
            }
        } catch (IOException e) {
            throw new AssertionError("cannot run " + String.join(" ", cmd) + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted running " + cmd[0], e);
        }
    }

    /** Runs a tool that must succeed; returns its output. */
    public static String ok(String... cmd) {
        Result r = run(Duration.ofMinutes(2), cmd);
        if (r.status != 0) {
            fail(String.join(" ", cmd) + " exited with " + r.status + ": " + r.output);
        }
        return r.output;
    }

    /** Starts a long-running peer (a server); the caller stops it. */
    public static Process start(Path log, String... cmd) {
        try {
            return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        } catch (IOException e) {
            throw new AssertionError("cannot start " + String.join(" ", cmd) + ": " + e, e);
        }
    }

    /** Stops a peer started by {@link #start} and waits for it. */
    public static void stop(Process p) {
        if (p == null) {
            return;
        }
        p.destroy();
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public static Duration seconds(long s) {
        return Duration.ofSeconds(s);
    }
}
