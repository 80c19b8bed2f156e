package io.jvmm.testkit.junit;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.core.AppenderBase;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import org.slf4j.ILoggerFactory;
import org.slf4j.LoggerFactory;

/** The logback side of {@link LogCapture}, apart so that nothing loads logback's classes when it is absent. */
final class LogbackTap {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS").withZone(ZoneId.systemDefault());

    private LogbackTap() {
    }

    /** An appender on the root logger feeding {@code capture}, or null if logback is not the binding. */
    static AutoCloseable attach(LogCapture capture) {
        ILoggerFactory factory;
        try {
            factory = LoggerFactory.getILoggerFactory();
            if (!(factory instanceof LoggerContext)) {
                return null;
            }
        } catch (NoClassDefFoundError e) {
            return null;
        }
        Logger root = ((LoggerContext) factory).getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        AppenderBase<ILoggingEvent> appender = new AppenderBase<>() {
            @Override
            protected void append(ILoggingEvent e) {
                StringBuilder line = new StringBuilder(TIME.format(Instant.ofEpochMilli(e.getTimeStamp())))
                        .append(' ').append(e.getLevel()).append(" [").append(e.getThreadName()).append("] ")
                        .append(e.getLoggerName().substring(e.getLoggerName().lastIndexOf('.') + 1))
                        .append(" - ").append(e.getFormattedMessage());
                IThrowableProxy t = e.getThrowableProxy();
                if (t != null) {
                    line.append(" (").append(t.getClassName()).append(": ").append(t.getMessage()).append(')');
                }
                capture.add(line.toString());
            }
        };
        appender.setName("jvmm-junit-capture");
        appender.setContext((LoggerContext) factory);
        appender.start();
        root.addAppender(appender);
        return () -> {
            root.detachAppender(appender);
            appender.stop();
        };
    }
}
