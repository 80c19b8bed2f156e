package io.jvmm.tests.virtio;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.stream.Collectors;

/**
 * Collects the ERROR and WARN lines jvmm logs while open, so a test can check that a device
 * reported a fault for the reason the test provoked (and not some other one).
 */
final class LogCapture implements AutoCloseable {
    private final Logger root = (Logger) LoggerFactory.getLogger("io.jvmm");
    private final ListAppender<ILoggingEvent> appender = new ListAppender<>();

    LogCapture() {
        appender.start();
        root.addAppender(appender);
    }

    /** The formatted messages logged at WARN or above so far. */
    List<String> problems() {
        synchronized (appender.list) {
            return appender.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.WARN))
                    .map(ILoggingEvent::getFormattedMessage).collect(Collectors.toList());
        }
    }

    boolean contains(String fragment) {
        return problems().stream().anyMatch(m -> m.contains(fragment));
    }

    @Override
    public void close() {
        root.detachAppender(appender);
        appender.stop();
    }
}
