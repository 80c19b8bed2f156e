package io.jvmm.tests.fs;

import io.jvmm.chardev.ProcessThreads;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

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

    /** SIGSTOP, returning once every thread of the process is stopped, so nothing it does comes after. */
    void stop() throws IOException, InterruptedException {
        ProcessThreads.stop(pid, "virtiofsd");
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
