package io.jvmm.tests.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jvmm.monitor.qmp.QmpJson;

/** Small helpers for the QMP tests: arguments, and assertions on replies. */
final class Qmp {
    private Qmp() {
    }

    /** A command's arguments from name/value pairs ({@link QmpJson#arguments}). */
    static ObjectNode args(Object... pairs) {
        return QmpJson.arguments(pairs);
    }

    /** The reply's {@code return}, failing with the reply if it is an error. */
    static JsonNode ok(JsonNode reply) {
        assertTrue(reply.has("return"), () -> "expected a return: " + reply);
        return reply.get("return");
    }

    /** Asserts an error of {@code errorClass} whose text contains {@code text}. */
    static void error(JsonNode reply, String errorClass, String text) {
        assertEquals(errorClass, reply.path("error").path("class").asText(), reply.toString());
        assertTrue(reply.path("error").path("desc").asText().contains(text), () -> "expected '" + text + "' in " + reply);
    }
}
