package io.jvmm.devices.p9.server;

import io.netty.buffer.ByteBuf;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;

/** One T-message in flight on a session, from receipt until its reply (or cancellation) is out. */
public final class Request {
    enum State { QUEUED, RUNNING, WAITING, DONE, CANCELLED, LEAKED }

    final int tag;
    final int type;
    final ByteBuf message;      // the whole message; the body starts at P9.HEADER
    final Object context;       // the transport's (a descriptor chain)
    final long received = System.nanoTime();
    State state = State.QUEUED;
    List<Request> flushers;     // Tflush requests waiting for this one, in the order received
    Future<?> scheduled;

    Request(int tag, int type, ByteBuf message, Object context) {
        this.tag = tag;
        this.type = type;
        this.message = message;
        this.context = context;
    }

    public int tag() {
        return tag;
    }

    public int type() {
        return type;
    }

    /** What the transport attached to it at receipt. */
    public Object context() {
        return context;
    }

    void addFlusher(Request flush) {
        if (flushers == null) {
            flushers = new ArrayList<>(2);
        }
        flushers.add(flush);
    }

    @Override
    public String toString() {
        return P9.name(type) + " tag " + tag + " (" + state + ")";
    }
}
