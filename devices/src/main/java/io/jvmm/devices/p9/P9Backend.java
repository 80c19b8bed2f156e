package io.jvmm.devices.p9;

import io.netty.buffer.ByteBuf;

/**
 * The transport seam of virtio-9p: where the guest's 9P messages go. {@link InProcessBackend}
 * hands them to jvmm's server in this process; {@link ForwardingBackend} carries them over a Unix
 * socket to an external 9P server (ours, diod).
 */
interface P9Backend extends AutoCloseable {
    /** What the device is told back: in wire order, from any thread. */
    interface Sink {
        /** The reply to the request in {@code slot} (the sink releases it). */
        void reply(P9Device.Slot slot, ByteBuf reply);

        /** The request in {@code slot} ends without a reply (flushed before it started): return its chain empty. */
        void release(P9Device.Slot slot);
    }

    /** The driver is ready (DRIVER_OK): a new 9P session begins. */
    void start(Sink sink);

    /** One whole message from the guest (the backend owns it); the answer goes to the sink with {@code slot}. */
    void submit(ByteBuf message, P9Device.Slot slot);

    /** The device is reset: end the session; every request in flight still reaches the sink, once. */
    void stop();

    String describe();

    @Override
    void close();
}
