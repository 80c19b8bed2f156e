package io.jvmm.virtio.vhost.backend;

import io.jvmm.chardev.EndOfStreamException;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Fds;
import io.jvmm.virtio.vhost.VhostUserChannel;
import io.jvmm.virtio.vhost.VhostUserHeader;
import io.jvmm.virtio.vhost.VhostUserMessage;
import io.jvmm.virtio.vhost.VhostUserRequest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.time.Duration;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The back-end's end of the connection, and the one place where {@link BackendFaults} touch the
 * conversation: it closes or stalls the connection at a chosen message, delays every message, and
 * spoils, refuses or drops the reply to a chosen request ({@link ReplyFault}). Requests are
 * received and answered one at a time on the session's thread, so "the current request" is
 * simply the last one {@link #receive()} returned.
 */
final class FaultInjectingChannel implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(FaultInjectingChannel.class);

    private final String name;
    private final VhostUserChannel channel;
    private final BackendFaults faults;
    private final BooleanSupplier closing;
    /** How a delay is spent ({@link BackendDataPlane#pause}). */
    private final BiConsumer<Duration, String> pause;
    private final AtomicLong messages = new AtomicLong();
    /** How many requests of the type {@link BackendFaults#replyFaultOn()} arrived so far. */
    private int replyFaultCandidates;
    /** The current request is the one whose reply is spoiled. */
    private boolean spoilReply;

    /**
     * @param closing whether the back-end is being closed (a stalled connection gives up then)
     * @param pause   how a delay is spent
     */
    FaultInjectingChannel(String name, VhostUserChannel channel, BackendFaults faults, BooleanSupplier closing,
                          BiConsumer<Duration, String> pause) {
        this.name = name;
        this.channel = channel;
        this.faults = faults;
        this.closing = closing;
        this.pause = pause;
    }

    String peer() {
        return channel.peer();
    }

    /** Messages received so far. */
    long messages() {
        return messages.get();
    }

    /**
     * The next request, once the faults that apply to it on arrival have: a delay, or the end of
     * the session (the message's fds are closed then).
     *
     * @throws SessionEnd when the front-end closed the connection, or a fault closed or stalled it
     * @throws io.jvmm.virtio.vhost.VhostUserProtocolException for a header that cannot be valid
     */
    VhostUserMessage receive() throws SessionEnd {
        VhostUserMessage m;
        try {
            m = channel.receive();
        } catch (EndOfStreamException e) {
            throw new SessionEnd("front-end closed the connection");
        }
        long n = messages.incrementAndGet();
        if (faults.closeAtMessage() == n) {
            Fds.closeQuietly(m.fds());
            String why = "fault injection: closed at message " + n + " (" + m.name() + ")";
            log.info("{}: {}", name, why);
            throw new SessionEnd(why);
        }
        if (faults.stallAtMessage() == n) {
            Fds.closeQuietly(m.fds());
            log.info("{}: fault injection: stalled at message {} ({})", name, n, m.name());
            stallUntilClosed();
            throw new SessionEnd("fault injection: stalled at message " + n);
        }
        pause.accept(faults.messageDelay(), "delay before " + m.name());
        VhostUserRequest type = m.type();
        spoilReply = type != null && type == faults.replyFaultOn() && ++replyFaultCandidates == faults.replyFaultOccurrence();
        return m;
    }

    /** Answers the current request, spoiled if it is the one {@link BackendFaults} chose. */
    void reply(VhostUserMessage reply) {
        if (spoilReply) {
            spoil(reply);
        } else {
            channel.send(reply);
        }
    }

    /** The current request gets no reply: a fault chosen for it has nothing to spoil. */
    void noReply(VhostUserMessage request) {
        if (spoilReply) {
            log.info("{}: fault injection: {} gets no reply to spoil", name, request.name());
        }
    }

    private void spoil(VhostUserMessage reply) {
        ReplyFault fault = faults.replyFault();
        log.info("{}: fault injection: {} reply to {}", name, fault, reply.name());
        switch (fault) {
            case SHORT -> {
                byte[] half = Arrays.copyOf(reply.payload(), reply.payload().length / 2);
                channel.send(new VhostUserMessage(reply.request(), reply.flags(), half, null));
            }
            case MALFORMED -> {
                ByteBuffer b = reply.encode();
                b.order(ByteOrder.LITTLE_ENDIAN).putInt(4, (reply.flags() & ~VhostUserHeader.VERSION_MASK) | 0x2);
                channel.sendRaw(b);
            }
            case WRONG_REQUEST -> {
                int other = reply.request() == VhostUserRequest.GET_FEATURES.id()
                        ? VhostUserRequest.GET_PROTOCOL_FEATURES.id() : VhostUserRequest.GET_FEATURES.id();
                channel.send(new VhostUserMessage(other, reply.flags(), reply.payload(), null));
            }
            case UNEXPECTED_FD -> {
                try (EventFd stray = EventFd.create()) {
                    channel.send(new VhostUserMessage(reply.request(), reply.flags(), reply.payload(), new int[] {stray.fd()}));
                }
            }
            case NO_REPLY -> {
                // nothing: the front-end has to notice on its own
            }
            case REFUSE -> channel.send(VhostUserMessage.ack(reply.request(), false));
        }
    }

    /** A hung back-end: answers nothing until it is closed (or gives up after a minute, so no test leaks it). */
    private void stallUntilClosed() {
        long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        while (!closing.getAsBoolean() && !channel.isClosed() && System.nanoTime() - end < 0) {
            LockSupport.parkNanos(20_000_000);
        }
    }

    @Override
    public void close() {
        channel.close();
    }
}
