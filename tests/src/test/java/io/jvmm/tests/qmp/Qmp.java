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

    /** {@code {"k1": v1, "k2": v2, ...}} from pairs (String, Boolean, Integer, Long or a JsonNode as values). */
    static ObjectNode args(Object... pairs) {
        ObjectNode o = QmpJson.object();
        for (int i = 0; i < pairs.length; i += 2) {
            String k = (String) pairs[i];
            Object v = pairs[i + 1];
            if (v instanceof String s) {
                o.put(k, s);
            } else if (v instanceof Boolean b) {
                o.put(k, b);
            } else if (v instanceof Integer n) {
                o.put(k, n);
            } else if (v instanceof Long n) {
                o.put(k, n);
            } else {
                o.set(k, (JsonNode) v);
            }
        }
        return o;
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
