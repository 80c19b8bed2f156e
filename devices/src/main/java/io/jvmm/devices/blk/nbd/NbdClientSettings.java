package io.jvmm.devices.blk.nbd;

import java.time.Duration;

/**
 * How an NBD client behaves when things go wrong.
 *
 * @param openTimeout    the longest the first connection and negotiation may take
 * @param requestTimeout the longest a request waits for its reply; past it the request fails with
 *                       an I/O error and the connection is dropped and made again
 * @param reconnectDelay after the connection is lost, how long new requests wait for the client to
 *                       reconnect before they fail (0: they fail at once); the client keeps trying
 *                       to reconnect in the background either way
 */
public record NbdClientSettings(Duration openTimeout, Duration requestTimeout, Duration reconnectDelay) {
    public static final NbdClientSettings DEFAULT = new NbdClientSettings(Duration.ofSeconds(30), Duration.ofSeconds(30), Duration.ZERO);
    /** Between two attempts to reconnect. */
    static final Duration RETRY = Duration.ofMillis(500);
}
