package io.jvmm.testkit.driver.p9;

import java.time.Duration;

/** Carries a client's T-messages to a 9P server and its replies back: a socket, or a virtio-9p device. */
public interface P9Transport extends AutoCloseable {
    /** Sends one whole message; the reply may take up to {@code replyCapacity} bytes. */
    void send(byte[] message, int replyCapacity);

    /**
     * The next reply, waiting up to {@code timeout}; null if none came. A virtio transport may return
     * a request without a reply (a flushed request's buffers): then the reply is empty and {@code tag}
     * names it.
     */
    Received receive(Duration timeout);

    @Override
    void close();

    /** What came back: the tag of the request and its reply bytes (empty for a released request). */
    record Received(int tag, byte[] bytes) {
    }
}
