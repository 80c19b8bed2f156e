package io.jvmm.devices.p9;

import io.jvmm.devices.p9.server.P9Connection;
import io.jvmm.devices.p9.server.P9Server;
import io.jvmm.devices.p9.server.P9Session;
import io.jvmm.devices.p9.server.Request;
import io.netty.buffer.ByteBuf;

/** virtio-9p served by jvmm's 9P server in this process: no socket, one session per activation. */
final class InProcessBackend implements P9Backend {
    private final String deviceId;
    private final P9Server server;
    private P9Session session;     // on the device's context

    InProcessBackend(String deviceId, P9Server server) {
        this.deviceId = deviceId;
        this.server = server;
    }

    P9Server server() {
        return server;
    }

    @Override
    public void start(Sink sink) {
        session = server.open(new P9Connection() {
            @Override
            public void send(Request request, ByteBuf reply) {
                sink.reply((P9Device.Slot) request.context(), reply);
            }

            @Override
            public void cancelled(Request request) {
                sink.release((P9Device.Slot) request.context());
            }

            @Override
            public String describe() {
                return "virtio-9p " + deviceId;
            }
        });
    }

    @Override
    public void submit(ByteBuf message, P9Device.Slot slot) {
        session.receive(message, slot);
    }

    @Override
    public void stop() {
        if (session != null) {
            server.closed(session);
            session = null;
        }
    }

    @Override
    public String describe() {
        return "jvmm's 9P server exporting " + server.config().root();
    }

    @Override
    public void close() {
        stop();
        server.close();
    }
}
