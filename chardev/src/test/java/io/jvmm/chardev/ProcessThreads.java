package io.jvmm.chardev;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Another process's threads as the kernel sees them, so a test that freezes a peer with SIGSTOP
 * knows when the peer is really frozen. kill(2) returning is not enough: each thread enters the
 * group stop on its own, and one still running can put a reply in a ring after the main thread
 * (the only one /proc/PID/stat shows) stopped.
 */
public final class ProcessThreads {
    private ProcessThreads() {
    }

    /** SIGSTOP to {@code pid}, returning once every thread of it is stopped (state T). */
    public static void stop(long pid, String what) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-STOP", Long.toString(pid)).redirectErrorStream(true).start();
        String out = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IllegalStateException("kill -STOP " + pid + " (" + what + ") failed: " + out);
        }
        Await.until(() -> {
            String states = states(pid);
            if (states.isEmpty()) {
                throw new IllegalStateException(what + " (" + pid + ") is gone instead of stopped");
            }
            return states.chars().allMatch(c -> c == 'T');
        }, Await.HANG_GUARD, () -> "every thread of " + what + " (" + pid + ") stopped after SIGSTOP; states: " + states(pid));
    }

    /** The state letter of each thread (/proc/PID/task/TID/stat), in one string; "" once the process is gone. */
    public static String states(long pid) {
        StringBuilder states = new StringBuilder();
        try (Stream<Path> tasks = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
            for (Path task : tasks.toList()) {
                char c = stateOf(task.resolve("stat"));
                if (c != 'X') {
                    states.append(c);
                }
            }
        } catch (NoSuchFileException e) {
            return "";
        } catch (IOException e) {
            throw new UncheckedIOException("listing the threads of " + pid, e);
        }
        return states.toString();
    }

    /** The state letter (R, S, T, Z...) of a stat file; 'X' if it is gone. */
    private static char stateOf(Path stat) {
        try {
            String line = Files.readString(stat);
            return line.charAt(line.lastIndexOf(')') + 2);   // the command may contain spaces and parentheses
        } catch (NoSuchFileException e) {
            return 'X';
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + stat, e);
        }
    }
}
