package io.jvmm.tests.vhost;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.List;
import java.util.stream.Collectors;
import org.slf4j.LoggerFactory;

/** The WARN and ERROR lines jvmm logs while open, so a test can check a failure was reported, and how. */
final class LogLines implements AutoCloseable {
    private final Logger root = (Logger) LoggerFactory.getLogger("io.jvmm");
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    LogLines() {
        appender.start();
        root.addAppender(appender);
    }

    List<String> problems() {
        synchronized (appender.list) {
            return appender.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.WARN))
                    .map(ILoggingEvent::getFormattedMessage).collect(Collectors.toList());
        }
    }

    /** Whether one line contains every fragment. */
    boolean anyContainsAll(String... fragments) {
        return problems().stream().anyMatch(line -> {
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
