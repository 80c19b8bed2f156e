package io.jvmm.platform.registry;

import io.jvmm.platform.options.OptionList;
import io.jvmm.platform.options.UserError;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Reads the declared properties out of one option value; anything else is refused by name. */
public final class Values {
    private Values() {
    }

    /**
     * The typed values of {@code properties} in {@code option} (besides {@code id} and the keys in
     * {@code alsoAccepted}, read by the caller). An unknown property is a one-line error naming it.
     */
    public static PropertyValues parse(OptionList option, String id, String owner, List<Property<?>> properties,
                                ParseContext context, Set<String> alsoAccepted) {
        Map<Property<?>, Object> values = new LinkedHashMap<>();
        Set<String> accepted = new LinkedHashSet<>();
        accepted.add("id");
        accepted.addAll(alsoAccepted);
        for (Property<?> p : properties) {
            accepted.add(p.name());
            String text = option.string(p.name(), null);
            if (text == null) {
                continue;
            }
            if (text.isEmpty() && !p.typeName().equals("str")) {
                throw new UserError(option.where() + ": property '" + p.name() + "' has an empty value");
            }
            values.put(p, p.parse(option.where(), text, context));
        }
        option.finish(accepted);
        return new PropertyValues(id, owner, values);
    }
}
