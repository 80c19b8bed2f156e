package io.jvmm.tests.fs;

import io.jvmm.chardev.Await;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The operating system's view of a running {@link Virtiofsd}: its pid (found among this JVM's
 * descendants by its socket path), freezing it with SIGSTOP, and how many bytes it has read
 * (rchar in /proc/PID/io: file data it served plus a few bytes of eventfds and messages).
 */
final class VirtiofsdProcess {
    private final long pid;

    private VirtiofsdProcess(long pid) {
        this.pid = pid;
    }

    static VirtiofsdProcess of(Virtiofsd virtiofsd) {
        String marker = "--socket-path=" + virtiofsd.socket;
        List<ProcessHandle> matches = ProcessHandle.current().descendants()
                .filter(p -> commandLine(p.pid()).contains(marker)).toList();
        if (matches.size() != 1) {
            throw new IllegalStateException("expected one virtiofsd process with " + marker + ", found " + matches.size()
                    + " (" + matches + ")");
        }
        return new VirtiofsdProcess(matches.get(0).pid());
    }

    private static String commandLine(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException e) {
            return "";   // gone meanwhile, or not ours to read
        }
    }

    long pid() {
        return pid;
    }

    /**
     * SIGSTOP, returning once every thread of the process is stopped (state T), so nothing it does
     * comes after. The main thread's state alone is not enough: each thread enters the group stop
     * on its own, and a worker could still put a reply in the used ring after the main one stopped.
     */
    void stop() throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-STOP", Long.toString(pid)).redirectErrorStream(true).start();
        String out = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IllegalStateException("kill -STOP " + pid + " failed: " + out);
        }
        Await.until(() -> {
            String states = threadStates();
            if (states.isEmpty()) {
                throw new IllegalStateException("virtiofsd " + pid + " is gone instead of stopped");
            }
            return states.chars().allMatch(c -> c == 'T');
        }, Await.HANG_GUARD,
                () -> "every thread of virtiofsd " + pid + " stopped after SIGSTOP; states: " + threadStates());
    }

    /** The state letter of each thread (/proc/PID/task/TID/stat), in one string; "" once the process is gone. */
    String threadStates() {
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

    /** Bytes the process has read so far (rchar), or -1 once it is gone. */
    long bytesRead() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "io"))) {
                if (line.startsWith("rchar:")) {
                    return Long.parseLong(line.substring("rchar:".length()).trim());
                }
            }
            throw new IllegalStateException("/proc/" + pid + "/io has no rchar line");
        } catch (NoSuchFileException e) {
            return -1;
        } catch (IOException e) {
            return -1;   // ESRCH while it dies reads as an I/O error
        }
    }
}
