package io.jvmm.chardev;

/**
 * What one receive delivered: the byte count and the fds that came with those bytes (now owned
 * by the receiver, close-on-exec). Zero bytes means the peer closed its end.
 */
public record ReceivedMessage(int bytes, int[] fds) {
    public ReceivedMessage {
        fds = fds.clone();
    }

    /** True when the peer closed its end (a stream read of zero bytes). */
    public boolean eof() {
        return bytes == 0;
    }

    @Override
    public int[] fds() {
        return fds.clone();
    }

    @Override
    public String toString() {
        return "ReceivedMessage[" + bytes + " bytes, fds " + java.util.Arrays.toString(fds) + "]";
    }
}
