package io.jvmm.monitor.qmp;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Splits the byte stream of a QMP connection into JSON values, one at a time, with bounded memory:
 * it tracks only nesting depth and whether it is inside a string (double- or single-quoted, as QMP
 * allows, with backslash escapes), and keeps the bytes of the current value up to a limit. A value
 * beyond the limit, or nested deeper than allowed, is discarded while it streams (its bytes are
 * counted, never kept) and reported once it ends, so the connection goes on with the next value.
 *
 * <p>A lexical error (an ASCII control character other than tab, CR and LF outside a string, any
 * control character inside one, or a byte 0xFE/0xFF) abandons the value under way and reports it:
 * this is how QMP clients force the parser back into a known state (qmp-spec, "Forcing the JSON
 * parser into known-good state"). Not thread-safe: one per connection, fed by its reader.
 */
public final class JsonSplitter {
    /** What the splitter produces. */
    public sealed interface Frame {
    }

    /** One complete JSON value (object, array, string or bare token), to parse. */
    public record Message(byte[] json) implements Frame {
    }

    /** A value that cannot be a QMP message; {@code reason} follows "JSON parse error, ". */
    public record Malformed(String reason) implements Frame {
    }

    public static final int DEFAULT_MAX_MESSAGE = 1 << 20;
    public static final int DEFAULT_MAX_DEPTH = 1024;
    private static final int INITIAL_BUFFER = 512;
    private static final int KEPT_BUFFER = 64 << 10;

    private enum Mode { IDLE, STRUCTURE, STRING, BARE }

    private final int maxMessage;
    private final int maxDepth;
    private Mode mode = Mode.IDLE;
    private int depth;
    private int quote;
    private boolean escape;
    private long size;
    private boolean oversized;
    private boolean tooDeep;
    private byte[] buffer = new byte[INITIAL_BUFFER];

    public JsonSplitter() {
        this(DEFAULT_MAX_MESSAGE, DEFAULT_MAX_DEPTH);
    }

    /**
     * @param maxMessage the largest value kept, in bytes
     * @param maxDepth   the deepest nesting of objects and arrays allowed
     */
    public JsonSplitter(int maxMessage, int maxDepth) {
        if (maxMessage < 2 || maxDepth < 1) {
            throw new IllegalArgumentException("limits must be positive: " + maxMessage + " bytes, depth " + maxDepth);
        }
        this.maxMessage = maxMessage;
        this.maxDepth = maxDepth;
    }

    public int maxMessage() {
        return maxMessage;
    }

    /** Feeds {@code length} bytes; every value they complete goes to {@code out}, in order. */
    public void feed(byte[] data, int offset, int length, Consumer<Frame> out) {
        for (int i = offset; i < offset + length; i++) {
            feed(data[i] & 0xff, out);
        }
    }

    /** Whether a value has started and not ended (its bytes, or its count, are held). */
    public boolean inValue() {
        return mode != Mode.IDLE;
    }

    /** Bytes held for the value under way (at most the limit). */
    public int bufferedBytes() {
        return oversized ? 0 : (int) size;
    }

    private void feed(int c, Consumer<Frame> out) {
        switch (mode) {
            case IDLE -> idle(c, out);
            case STRUCTURE -> structure(c, out);
            case STRING -> string(c, out);
            case BARE -> bare(c, out);
        }
    }

    private void idle(int c, Consumer<Frame> out) {
        if (whitespace(c)) {
            return;
        }
        if (c == '{' || c == '[') {
            mode = Mode.STRUCTURE;
            depth = 1;
            append(c);
        } else if (c == '"' || c == '\'') {
            mode = Mode.STRING;
            quote = c;
            append(c);
        } else if (c == '}' || c == ']' || c == ',' || c == ':') {
            out.accept(new Malformed("unexpected '" + (char) c + "'"));
        } else if (lexicalError(c)) {
            out.accept(new Malformed(stray(c)));
        } else {
            mode = Mode.BARE;
            append(c);
        }
    }

    private void structure(int c, Consumer<Frame> out) {
        if (quote != 0) {
            if (inString(c, out)) {
                append(c);
            }
            return;
        }
        if (lexicalError(c)) {
            abandon(out, stray(c));
            return;
        }
        append(c);
        switch (c) {
            case '{', '[' -> {
                depth++;
                if (depth > maxDepth) {
                    tooDeep = true;
                }
            }
            case '}', ']' -> {
                depth--;
                if (depth == 0) {
                    finish(out);
                }
            }
            case '"', '\'' -> quote = c;
            default -> {
            }
        }
    }

    private void string(int c, Consumer<Frame> out) {
        if (inString(c, out)) {
            append(c);
            if (quote == 0) {
                finish(out);
            }
        }
    }

    /** Tracks a byte inside a string; false if it was a lexical error (the value is abandoned). */
    private boolean inString(int c, Consumer<Frame> out) {
        if (escape) {
            escape = false;
        } else if (c == '\\') {
            escape = true;
        } else if (c == quote) {
            quote = 0;
        } else if (c < 0x20 || c == 0xfe || c == 0xff) {
            abandon(out, "control character " + String.format("0x%02x", c) + " in a string");
            return false;
        }
        return true;
    }

    private void bare(int c, Consumer<Frame> out) {
        boolean delimiter = whitespace(c) || c == '{' || c == '[' || c == '}' || c == ']' || c == ',' || c == ':'
                || c == '"' || c == '\'';
        if (delimiter) {
            finish(out);
            idle(c, out);
        } else if (lexicalError(c)) {
            abandon(out, stray(c));
        } else {
            append(c);
        }
    }

    private void append(int c) {
        size++;
        if (oversized) {
            return;
        }
        if (size > maxMessage) {
            oversized = true;
            buffer = new byte[INITIAL_BUFFER];   // the bytes so far go: the value is discarded as it streams
            return;
        }
        if (size > buffer.length) {
            buffer = Arrays.copyOf(buffer, (int) Math.min(maxMessage, (long) buffer.length * 2));
        }
        buffer[(int) size - 1] = (byte) c;
    }

    private void finish(Consumer<Frame> out) {
        Frame frame;
        if (oversized) {
            frame = new Malformed("message of " + size + " bytes is over the limit of " + maxMessage + " bytes; it was discarded");
        } else if (tooDeep) {
            frame = new Malformed("nesting deeper than " + maxDepth + " levels; the message was discarded");
        } else {
            frame = new Message(Arrays.copyOf(buffer, (int) size));
        }
        reset();
        out.accept(frame);
    }

    private void abandon(Consumer<Frame> out, String reason) {
        reset();
        out.accept(new Malformed(reason));
    }

    private void reset() {
        mode = Mode.IDLE;
        depth = 0;
        quote = 0;
        escape = false;
        size = 0;
        oversized = false;
        tooDeep = false;
        if (buffer.length > KEPT_BUFFER) {
            buffer = new byte[INITIAL_BUFFER];
        }
    }

    private static boolean whitespace(int c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
    }

    /** Outside a string: control characters other than whitespace, and bytes never valid in UTF-8's lead. */
    private static boolean lexicalError(int c) {
        return (c < 0x20 && !whitespace(c)) || c == 0x7f || c == 0xfe || c == 0xff;
    }

    private static String stray(int c) {
        return "stray byte " + String.format("0x%02x", c);
    }
}
