package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** A request's arguments, already checked against its command's {@link Arg}s. */
public final class Arguments {
    private final ObjectNode values;
    private final Set<String> declared;

    Arguments(ObjectNode values, List<Arg> args) {
        this.values = values;
        this.declared = Set.copyOf(args.stream().map(Arg::name).toList());
    }

    public String string(String name) {
        return values.get(name).asText();
    }

    public Optional<String> optionalString(String name) {
        JsonNode v = values.get(name);
        return v == null ? Optional.empty() : Optional.of(v.asText());
    }

    public Optional<Long> optionalInteger(String name) {
        JsonNode v = values.get(name);
        return v == null ? Optional.empty() : Optional.of(v.asLong());
    }

    /** An argument of any type (null if not given). */
    public JsonNode node(String name) {
        return values.get(name);
    }

    public List<String> strings(String name) {
        JsonNode v = values.get(name);
        if (v == null) {
            return List.of();
        }
        return java.util.stream.StreamSupport.stream(v.spliterator(), false).map(JsonNode::asText).toList();
    }

    /** The arguments beyond the declared ones (a command that takes any, such as device_add's properties). */
    public Map<String, JsonNode> others() {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        values.fields().forEachRemaining(e -> {
            if (!declared.contains(e.getKey())) {
                out.put(e.getKey(), e.getValue());
            }
        });
        return out;
    }
}
