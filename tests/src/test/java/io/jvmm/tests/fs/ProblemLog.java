package io.jvmm.tests.fs;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.stream.Collectors;

/**
 * The WARN and ERROR lines jvmm logs while open: a test checks that a failure was reported, and
 * that the report names what failed (the back-end, the message), not just that something did.
 */
final class ProblemLog implements AutoCloseable {
    private final Logger root = (Logger) LoggerFactory.getLogger("io.jvmm");
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    ProblemLog() {
        appender.start();
        root.addAppender(appender);
    }

    List<String> lines() {
        synchronized (appender.list) {
            return appender.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.WARN))
                    .map(ILoggingEvent::getFormattedMessage).collect(Collectors.toList());
        }
    }

    /** Whether one line contains every fragment. */
    boolean anyContainsAll(String... fragments) {
        return lines().stream().anyMatch(line -> {
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
