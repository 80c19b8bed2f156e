package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jvmm.platform.options.UserError;
import java.util.Iterator;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns one framed message into one reply, as QEMU's QMP dispatcher does: the request's shape
 * ({@code execute}, {@code arguments}, {@code id}), capabilities negotiation, the command's
 * arguments against the {@link CommandTable}, then the handler. Every failure is a QMP error
 * reply with the request's {@code id} when it has one; none reaches the machine unless the whole
 * request is valid.
 */
public final class QmpDispatcher {
    private static final Logger log = LoggerFactory.getLogger(QmpDispatcher.class);

    private final CommandTable table;

    /** A connection's protocol state. */
    public static final class Session {
        private volatile boolean negotiated;

        public boolean negotiated() {
            return negotiated;
        }
    }

    /** The reply, and what to do once it is sent. */
    public record Outcome(ObjectNode reply, Runnable afterReply) {
    }

    public QmpDispatcher(CommandTable table) {
        this.table = table;
    }

    public Outcome dispatch(JsonSplitter.Frame frame, Session session) {
        if (frame instanceof JsonSplitter.Malformed m) {
            return new Outcome(QmpJson.error(QmpError.generic("JSON parse error, " + m.reason()), null), null);
        }
        JsonNode request;
        try {
            request = QmpJson.parse(((JsonSplitter.Message) frame).json());
        } catch (QmpError e) {
            return new Outcome(QmpJson.error(e, null), null);
        }
        return dispatch(request, session);
    }

    public Outcome dispatch(JsonNode request, Session session) {
        JsonNode id = request.isObject() ? request.get("id") : null;
        String name = null;
        try {
            if (!request.isObject()) {
                throw QmpError.generic("QMP input must be a JSON object");
            }
            ObjectNode arguments = null;
            for (Iterator<Map.Entry<String, JsonNode>> it = request.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> member = it.next();
                switch (member.getKey()) {
                    case "execute" -> {
                        if (!member.getValue().isTextual()) {
                            throw QmpError.generic("QMP input member 'execute' must be a string");
                        }
                        name = member.getValue().asText();
                    }
                    case "arguments" -> {
                        if (!member.getValue().isObject()) {
                            throw QmpError.generic("QMP input member 'arguments' must be an object");
                        }
                        arguments = (ObjectNode) member.getValue();
                    }
                    case "id" -> {
                    }
                    default -> throw QmpError.generic("QMP input member '" + member.getKey() + "' is unexpected");
                }
            }
            if (name == null) {
                throw QmpError.generic("QMP input lacks member 'execute'");
            }
            if (!session.negotiated && !name.equals(CommandTable.CAPABILITIES)) {
                throw QmpError.commandNotFound("Expecting capabilities negotiation with '" + CommandTable.CAPABILITIES + "'");
            }
            if (session.negotiated && name.equals(CommandTable.CAPABILITIES)) {
                throw QmpError.commandNotFound("Capabilities negotiation is already complete, command ignored");
            }
            String command = name;
            QmpCommand c = table.get(name).orElseThrow(() -> QmpError.commandNotFound("The command " + command + " has not been found"));
            Arguments checked = check(c, arguments == null ? QmpJson.object() : arguments);
            QmpCommand.Result result = c.handler().run(checked);
            if (name.equals(CommandTable.CAPABILITIES)) {
                session.negotiated = true;
            }
            return new Outcome(QmpJson.success(result.value(), id), result.afterReply());
        } catch (QmpError e) {
            log.debug("QMP {}: {} {}", name, e.errorClass(), e.desc());
            return new Outcome(QmpJson.error(e, id), null);
        } catch (UserError e) {
            log.debug("QMP {}: {}", name, e.getMessage());
            return new Outcome(QmpJson.error(QmpError.generic(e.getMessage()), id), null);
        } catch (RuntimeException e) {
            log.error("QMP {} failed", name, e);
            return new Outcome(QmpJson.error(QmpError.generic(name + " failed: " + e), id), null);
        }
    }

    /** QEMU's order: each declared argument (missing, wrong type), then anything undeclared. */
    private static Arguments check(QmpCommand c, ObjectNode arguments) {
        for (Arg arg : c.args()) {
            arg.check(arguments.get(arg.name()));
        }
        if (!c.othersAllowed()) {
            for (Iterator<String> it = arguments.fieldNames(); it.hasNext(); ) {
                String key = it.next();
                if (c.args().stream().noneMatch(a -> a.name().equals(key))) {
                    throw QmpError.generic("Parameter '" + key + "' is unexpected");
                }
            }
        }
        return new Arguments(arguments, c.args());
    }
}
