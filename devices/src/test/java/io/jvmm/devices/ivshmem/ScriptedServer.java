package io.jvmm.devices.ivshmem;

import io.jvmm.chardev.UnixServerSocket;
import io.jvmm.chardev.UnixSocketChannel;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A server that misbehaves on purpose, as no real one does on demand: it accepts one client and
 * runs a script against it (wrong version, a message without its fd, a truncated message, silence),
 * then holds the connection open until closed.
 */
final class ScriptedServer implements AutoCloseable {
    private final UnixServerSocket listener;
    private final Thread thread;
    private final CountDownLatch release = new CountDownLatch(1);
    private volatile UnixSocketChannel client;
    private volatile Throwable failure;

    ScriptedServer(Path socket, Consumer<UnixSocketChannel> script) {
        listener = UnixServerSocket.listen(socket);
        thread = new Thread(() -> {
            try {
                client = listener.accept();
                script.accept(client);
                release.await(60, TimeUnit.SECONDS);
            } catch (Throwable t) {
                failure = t;
            }
        }, "scripted-ivshmem-server");
        thread.start();
    }

    /** Lets the script's thread end (the connection stays until close). */
    void release() {
        release.countDown();
    }

    Throwable failure() {
        return failure;
    }

    @Override
    public void close() throws InterruptedException {
        release.countDown();
        listener.close();
        UnixSocketChannel c = client;
        if (c != null) {
            c.close();
        }
        thread.join(10_000);
    }
}
