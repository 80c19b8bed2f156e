package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * JSON as QMP speaks it: input may use QEMU's single-quoted strings and the {@code \'} escape;
 * output is ASCII (anything else escaped), one object per line ending in CRLF.
 */
public final class QmpJson {
    private static final JsonFactory FACTORY = JsonFactory.builder()
            .enable(JsonReadFeature.ALLOW_SINGLE_QUOTES)
            .enable(JsonReadFeature.ALLOW_BACKSLASH_ESCAPING_ANY_CHARACTER)
            .enable(JsonWriteFeature.ESCAPE_NON_ASCII)
            // the splitter refuses deeper nesting first, with QMP's error
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(JsonSplitter.DEFAULT_MAX_DEPTH + 16).build())
            .build();
    public static final ObjectMapper MAPPER = new ObjectMapper(FACTORY);
    public static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private QmpJson() {
    }

    /** Parses one value; a syntax error becomes QEMU's "JSON parse error, ..." GenericError. */
    public static JsonNode parse(byte[] json) {
        try {
            JsonNode node = MAPPER.readTree(json);
            if (node == null || node.isMissingNode()) {
                throw QmpError.generic("JSON parse error, expecting value");
            }
            return node;
        } catch (JsonProcessingException e) {
            String why = e.getOriginalMessage();
            int newline = why.indexOf('\n');
            throw QmpError.generic("JSON parse error, " + (newline < 0 ? why : why.substring(0, newline)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One line of output: the value, then CRLF. */
    public static byte[] line(JsonNode node) {
        try {
            return (MAPPER.writeValueAsString(node) + "\r\n").getBytes(StandardCharsets.US_ASCII);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + node, e);
        }
    }

    public static ObjectNode object() {
        return NODES.objectNode();
    }

    /**
     * {@code {"k1": v1, "k2": v2, ...}} from name/value pairs (a command's arguments): values are
     * Strings, Booleans, Integers, Longs or JsonNodes.
     */
    public static ObjectNode arguments(Object... pairs) {
        if (pairs.length % 2 != 0) {
            throw new IllegalArgumentException("arguments come in name/value pairs, got " + pairs.length + " items");
        }
        ObjectNode o = object();
        for (int i = 0; i < pairs.length; i += 2) {
            String name = (String) pairs[i];
            Object v = pairs[i + 1];
            if (v instanceof String text) {
                o.put(name, text);
            } else if (v instanceof Boolean b) {
                o.put(name, b);
            } else if (v instanceof Integer n) {
                o.put(name, n);
            } else if (v instanceof Long n) {
                o.put(name, n);
            } else if (v instanceof JsonNode node) {
                o.set(name, node);
            } else {
                throw new IllegalArgumentException("argument " + name + ": " + v + " is not a JSON value");
            }
        }
        return o;
    }

    /** {@code {"error": {"class": ..., "desc": ...}}}, with {@code id} if the request had one. */
    public static ObjectNode error(QmpError error, JsonNode id) {
        ObjectNode reply = object();
        ObjectNode body = reply.putObject("error");
        body.put("class", error.errorClass());
        body.put("desc", error.desc());
        if (id != null) {
            reply.set("id", id);
        }
        return reply;
    }

    /** {@code {"return": value}}, with {@code id} if the request had one. */
    public static ObjectNode success(JsonNode value, JsonNode id) {
        ObjectNode reply = object();
        reply.set("return", value);
        if (id != null) {
            reply.set("id", id);
        }
        return reply;
    }

    /** {@code {"timestamp": {"seconds": ..., "microseconds": ...}, "event": name, "data": data}} ({@code data} left out when null). */
    public static ObjectNode event(String name, JsonNode data, Instant at) {
        ObjectNode event = object();
        ObjectNode timestamp = event.putObject("timestamp");
        timestamp.put("seconds", at.getEpochSecond());
        timestamp.put("microseconds", at.getNano() / 1000);
        event.put("event", name);
        if (data != null) {
            event.set("data", data);
        }
        return event;
    }
}
