package io.jvmm.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Context switches (voluntary and involuntary) of this process's threads, from
 * {@code /proc/self/task/TID/status}: a thread that sleeps and is woken switches once per sleep,
 * so the count per operation shows the wake-ups a path costs.
 */
final class ThreadSwitches {
    private ThreadSwitches() {
    }

    /** Switches per thread, keyed by the kernel's thread name (15 characters) and tid. */
    static Map<String, Long> perThread() throws IOException {
        Map<String, Long> out = new HashMap<>();
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path t : tasks.toList()) {
                try {
                    String name = "?";
                    long switches = 0;
                    for (String line : Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("Name:")) {
                            name = line.substring(5).trim();
                        } else if (line.startsWith("voluntary_ctxt_switches:") || line.startsWith("nonvoluntary_ctxt_switches:")) {
                            switches += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                    out.put(name + "/" + t.getFileName(), switches);
                } catch (NoSuchFileException gone) {
                    // a thread that ended meanwhile
                }
            }
        }
        return out;
    }

    /** All threads' switches. */
    static long total() throws IOException {
        return perThread().values().stream().mapToLong(Long::longValue).sum();
    }
}
