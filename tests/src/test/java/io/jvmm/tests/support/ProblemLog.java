package io.jvmm.tests.support;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The WARN and ERROR lines jvmm logs while open, from any thread: a test checks that a failure
 * was reported, and that the report names what failed (device, back-end, message), not just that
 * something did.
 */
public final class ProblemLog implements AutoCloseable {
    private final Logger root = (Logger) LoggerFactory.getLogger("io.jvmm");
    private final List<String> lines = new CopyOnWriteArrayList<>();
    private final AppenderBase<ILoggingEvent> appender = new AppenderBase<>() {
        @Override
        protected void append(ILoggingEvent event) {
            if (event.getLevel().isGreaterOrEqual(Level.WARN)) {
                lines.add(event.getFormattedMessage());
            }
        }
    };

    public ProblemLog() {
        appender.start();
        root.addAppender(appender);
    }

    /** A snapshot of the lines logged so far. */
    public List<String> problems() {
        return List.copyOf(lines);
    }

    public boolean contains(String fragment) {
        return lines.stream().anyMatch(line -> line.contains(fragment));
    }

    /** Whether one line contains every fragment. */
    public boolean anyContainsAll(String... fragments) {
        return lines.stream().anyMatch(line -> {
            for (String f : fragments) {
                if (!line.contains(f)) {
                    return false;
                }
            }
            return true;
        });
    }

    @Override
    public void close() {
        root.detachAppender(appender);
        appender.stop();
    }
}
