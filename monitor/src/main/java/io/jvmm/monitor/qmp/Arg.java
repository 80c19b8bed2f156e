package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Objects;

/**
 * One argument of a QMP command: its name, JSON type and whether it must be given. The dispatcher
 * checks every request against its command's arguments before the handler runs (so a refused
 * request has no effect), with QEMU's texts.
 */
public record Arg(String name, Type type, boolean required) {
    /** The JSON types QMP arguments have; {@code qapiName} is what QEMU's errors call them. */
    public enum Type {
        STRING("string"),
        INTEGER("integer"),
        BOOLEAN("boolean"),
        OBJECT("object"),
        STRING_LIST("array"),
        ANY("any");

        private final String qapiName;

        Type(String qapiName) {
            this.qapiName = qapiName;
        }

        public String qapiName() {
            return qapiName;
        }

        boolean accepts(JsonNode value) {
            return switch (this) {
                case STRING -> value.isTextual();
                case INTEGER -> value.isIntegralNumber();
                case BOOLEAN -> value.isBoolean();
                case OBJECT -> value.isObject();
                case STRING_LIST -> value.isArray();
                case ANY -> true;
            };
        }
    }

    public Arg {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
    }

    public static Arg required(String name, Type type) {
        return new Arg(name, type, true);
    }

    public static Arg optional(String name, Type type) {
        return new Arg(name, type, false);
    }

    /** Checks {@code value} (null: not given); throws QEMU's error. */
    void check(JsonNode value) {
        if (value == null) {
            if (required) {
                throw QmpError.generic("Parameter '" + name + "' is missing");
            }
            return;
        }
        if (!type.accepts(value)) {
            throw invalidType(name, type);
        }
        if (type == Type.STRING_LIST) {
            for (int i = 0; i < value.size(); i++) {
                if (!value.get(i).isTextual()) {
                    throw invalidType(name + "[" + i + "]", Type.STRING);
                }
            }
        }
    }

    /** QEMU's "Invalid parameter type for 'NAME', expected: TYPE". */
    static QmpError invalidType(String name, Type expected) {
        return QmpError.generic("Invalid parameter type for '" + name + "', expected: " + expected.qapiName());
    }
}
