package io.jvmm.platform.registry;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.options.Sizes;
import io.jvmm.platform.options.UserError;
import java.util.Objects;
import java.util.function.Predicate;

/**
 * One property of a device or back-end type, declared once: QEMU's name, its type, its default,
 * a line of help and what values are allowed. The parser converts the text to the type; the
 * options record then calls {@link #check} (the one place a value is validated), so a record built
 * by a test is held to the same rules as one built from the command line.
 *
 * @param <T> the Java type of the value
 */
public final class Property<T> {
    /** Converts the option text; {@code where} names the option for errors. */
    @FunctionalInterface
    public interface Parser<T> {
        T parse(String where, String name, String text, ParseContext context);
    }

    private final String name;
    private final String typeName;
    private final Parser<T> parser;
    private final T defaultValue;
    private final boolean required;
    private final String help;
    private final Predicate<T> allowed;
    private final String allowedText;
    private final RuntimeSetter<T> runtimeSetter;

    /**
     * Applies a new value to a device that is running (a monitor's {@code qom-set}): for switches
     * that act at run time, declared with {@link #settableAtRunTime}.
     */
    @FunctionalInterface
    public interface RuntimeSetter<T> {
        void set(BuiltDevice device, T value);
    }

    private Property(String name, String typeName, Parser<T> parser, T defaultValue, boolean required, String help,
                     Predicate<T> allowed, String allowedText) {
        this(name, typeName, parser, defaultValue, required, help, allowed, allowedText, null);
    }

    private Property(String name, String typeName, Parser<T> parser, T defaultValue, boolean required, String help,
                     Predicate<T> allowed, String allowedText, RuntimeSetter<T> runtimeSetter) {
        this.name = Objects.requireNonNull(name, "name");
        this.typeName = typeName;
        this.parser = parser;
        this.defaultValue = defaultValue;
        this.required = required;
        this.help = help == null ? "" : help;
        this.allowed = allowed;
        this.allowedText = allowedText;
        this.runtimeSetter = runtimeSetter;
    }

    // ---- the types ----------------------------------------------------------------------

    public static Property<String> string(String name, String help) {
        return new Property<>(name, "str", (where, n, text, ctx) -> text, null, false, help, null, null);
    }

    public static Property<Boolean> bool(String name, String help) {
        return new Property<>(name, "bool", Property::parseBool, null, false, help, null, null);
    }

    /** A whole number (decimal or 0x hex) from {@code min} to {@code max}. */
    public static Property<Integer> integer(String name, String typeName, int min, int max, String help) {
        return new Property<>(name, typeName, Property::parseInt, null, false, help,
                v -> v >= min && v <= max, "from " + min + " to " + max);
    }

    /** A power of two from {@code min} to {@code max} (queue sizes). */
    public static Property<Integer> powerOfTwo(String name, String typeName, int min, int max, String help) {
        return new Property<>(name, typeName, Property::parseInt, null, false, help,
                v -> v >= min && v <= max && Integer.bitCount(v) == 1, "a power of two from " + min + " to " + max);
    }

    /** A long number (decimal or 0x hex) from {@code min} to {@code max}. */
    public static Property<Long> number(String name, String typeName, long min, long max, String help) {
        return new Property<>(name, typeName, Property::parseNumber, null, false, help,
                v -> v >= min && v <= max, "from " + min + " to " + max);
    }

    /** A size in bytes with an optional K/M/G/T suffix. */
    public static Property<Long> size(String name, String help) {
        return new Property<>(name, "size", (where, n, text, ctx) -> Sizes.parse(where + " " + n, text, 1), null, false, help,
                v -> v > 0, "a positive size");
    }

    /**
     * A reference to a back-end defined by another option ({@code drive=ID}, {@code chardev=ID},
     * {@code memdev=ID}, {@code fsdev=ID}): the value is that back-end's options, of {@code type}.
     * A back-end is used by at most one device.
     */
    public static <B> Property<B> backend(String name, BackendKind kind, Class<B> type, String help) {
        return new Property<>(name, kind.optionName().substring(1) + " id",
                (where, n, text, ctx) -> ctx.claimBackend(where, n, kind, text, type), null, false, help, null, null);
    }

    // ---- modifiers ----------------------------------------------------------------------

    public Property<T> withDefault(T value) {
        return new Property<>(name, typeName, parser, Objects.requireNonNull(value, "default"), false, help, allowed, allowedText,
                runtimeSetter);
    }

    public Property<T> required() {
        return new Property<>(name, typeName, parser, null, true, help, allowed, allowedText, runtimeSetter);
    }

    /** Only values {@code test} accepts; {@code text} says which (for errors and help). */
    public Property<T> allowing(Predicate<T> test, String text) {
        return new Property<>(name, typeName, parser, defaultValue, required, help, test, text, runtimeSetter);
    }

    /**
     * A switch that acts at run time: a monitor may change it on a running device ({@code qom-set}),
     * and {@code setter} applies the new value. Properties without one act when the device is
     * built (realized) and are refused on a running device, as QEMU refuses them.
     */
    public Property<T> settableAtRunTime(RuntimeSetter<T> setter) {
        return new Property<>(name, typeName, parser, defaultValue, required, help, allowed, allowedText,
                Objects.requireNonNull(setter, "setter"));
    }

    // ---- use ----------------------------------------------------------------------------

    public String name() {
        return name;
    }

    public String typeName() {
        return typeName;
    }

    public T defaultValue() {
        return defaultValue;
    }

    public boolean isRequired() {
        return required;
    }

    public String help() {
        return help;
    }

    /** What values are allowed, or null if any value of the type is. */
    public String allowedText() {
        return allowedText;
    }

    /**
     * Validates {@code value} for the device or back-end {@code owner} (e.g. "virtio-blk-pci 'blk0'").
     *
     * @return the value
     * @throws UserError naming the owner, the property, the value and what is allowed
     */
    public T check(String owner, T value) {
        if (value == null) {
            if (required) {
                throw new UserError(owner + ": property '" + name + "' is required" + (help.isEmpty() ? "" : " (" + help + ")"));
            }
            return null;
        }
        if (allowed != null && !allowed.test(value)) {
            throw new UserError(owner + ": " + name + "=" + value + " is not allowed (" + allowedText + ")");
        }
        return value;
    }

    /** Whether the value names a back-end defined by another option ({@link #backend}). */
    public boolean isBackendReference() {
        return typeName.endsWith(" id");
    }

    public boolean isSettableAtRunTime() {
        return runtimeSetter != null;
    }

    /**
     * Checks {@code value} and applies it to the running {@code device} ({@code owner} names it in
     * errors).
     *
     * @throws UserError if the value is not allowed
     * @throws IllegalStateException if the property is not {@link #settableAtRunTime settable at run time}
     */
    public void setAtRunTime(String owner, BuiltDevice device, T value) {
        if (runtimeSetter == null) {
            throw new IllegalStateException(owner + ": property '" + name + "' acts when the device is built, not at run time");
        }
        runtimeSetter.set(device, check(owner, Objects.requireNonNull(value, "value")));
    }

    /**
     * Converts option text ({@code on}, {@code 0x10}, {@code 4K}) to a value of this property,
     * without consulting back-ends; {@code where} names the option in errors.
     */
    public T parseText(String where, String text) {
        return parse(where, text, ParseContext.NONE);
    }

    T parse(String where, String text, ParseContext context) {
        return parser.parse(where, name, text, context);
    }

    static boolean parseBool(String where, String name, String text, ParseContext ctx) {
        switch (text) {
            case "on": case "yes": case "true": case "y":
                return true;
            case "off": case "no": case "false": case "n":
                return false;
            default:
                throw new UserError(where + ": property '" + name + "' must be on or off, not '" + text + "'");
        }
    }

    static int parseInt(String where, String name, String text, ParseContext ctx) {
        long v = parseNumber(where, name, text, ctx);
        if (v != (int) v) {
            throw new UserError(where + ": property '" + name + "' is out of range: " + text);
        }
        return (int) v;
    }

    static long parseNumber(String where, String name, String text, ParseContext ctx) {
        try {
            return text.startsWith("0x") || text.startsWith("0X") ? Long.parseLong(text.substring(2), 16) : Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw new UserError(where + ": property '" + name + "' must be a number, not '" + text + "'");
        }
    }

    @Override
    public String toString() {
        return name + "=<" + typeName + ">";
    }
}
