package io.jvmm.chardev;

/** The peer closed a stream before a whole message arrived (message says how much did). */
public final class EndOfStreamException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final long received;
    private final long expected;

    public EndOfStreamException(String where, long received, long expected) {
        super(where + ": peer closed the connection after " + received + " of " + expected + " bytes");
        this.received = received;
        this.expected = expected;
    }

    public long received() {
        return received;
    }

    public long expected() {
        return expected;
    }
}
