package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Objects;

/**
 * One row of the command table: QEMU's command name, its arguments and its handler.
 *
 * @param othersAllowed whether arguments beyond {@code args} are passed on (device_add's
 *                      properties) instead of refused
 */
public record QmpCommand(String name, List<Arg> args, boolean othersAllowed, Handler handler) {
    /** Runs a command whose arguments have been checked. */
    @FunctionalInterface
    public interface Handler {
        Result run(Arguments arguments);
    }

    /**
     * What a command returns, and what to do once the reply is on its way ({@code quit} ends the
     * machine only after answering, as QEMU does).
     */
    public record Result(JsonNode value, Runnable afterReply) {
        public Result {
            Objects.requireNonNull(value, "value");
        }

        public static Result of(JsonNode value) {
            return new Result(value, null);
        }

        /** {@code {}}: what commands without data return. */
        public static Result empty() {
            return of(QmpJson.object());
        }

        public static Result emptyThen(Runnable afterReply) {
            return new Result(QmpJson.object(), afterReply);
        }
    }

    public QmpCommand {
        Objects.requireNonNull(name, "name");
        args = List.copyOf(args);
        Objects.requireNonNull(handler, "handler");
    }

    public static QmpCommand of(String name, Handler handler, Arg... args) {
        return new QmpCommand(name, List.of(args), false, handler);
    }
}
