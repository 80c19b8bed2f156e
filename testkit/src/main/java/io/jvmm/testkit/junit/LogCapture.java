package io.jvmm.testkit.junit;

import java.util.ArrayDeque;
import java.util.List;
import org.slf4j.LoggerFactory;

/**
 * The last lines logged (through SLF4J, any thread) while a machine lives, for failure reports.
 * Needs logback-classic as the SLF4J binding; with another binding it captures nothing and says so.
 */
final class LogCapture implements AutoCloseable {
    private final int capacity;
    private final ArrayDeque<String> lines = new ArrayDeque<>();
    private final AutoCloseable detach;
    private long dropped;

    LogCapture(int capacity) {
        this.capacity = capacity;
        AutoCloseable tap = null;
        if (capacity > 0) {
            try {
                tap = LogbackTap.attach(this);
            } catch (LinkageError e) {
                tap = null;   // logback-classic is not on the class path
            }
        }
        this.detach = tap;
    }

    synchronized void add(String line) {
        if (lines.size() == capacity) {
            lines.removeFirst();
            dropped++;
        }
        lines.addLast(line);
    }

    /** The captured lines, oldest first, with a first line saying how many earlier ones were left out. */
    synchronized List<String> recent() {
        if (detach == null && capacity > 0) {
            return List.of("(no log lines: the SLF4J binding is " + LoggerFactory.getILoggerFactory().getClass().getName()
                    + ", not logback-classic)");
        }
        java.util.ArrayList<String> out = new java.util.ArrayList<>();
        if (dropped > 0) {
            out.add("(" + dropped + " earlier lines left out)");
        }
        out.addAll(lines);
        return out;
    }

    @Override
    public void close() {
        if (detach != null) {
            try {
                detach.close();
            } catch (Exception e) {
                // nothing to do: the appender is only detached
            }
        }
    }
}
