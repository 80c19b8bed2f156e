package io.jvmm.testkit.driver.p9;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * 9P over a Unix or TCP socket, with the JDK's own channels (nothing shared with the server): a
 * reader thread splits the stream into messages by their size field.
 */
public final class SocketP9Transport implements P9Transport {
    private final SocketChannel channel;
    private final BlockingQueue<Object> replies = new LinkedBlockingQueue<>();
    private final Thread reader;
    private final Object writeLock = new Object();

    private SocketP9Transport(SocketChannel channel, String name) {
        this.channel = channel;
        this.reader = new Thread(this::readLoop, "9p-client-" + name);
        reader.setDaemon(true);
        reader.start();
    }

    public static SocketP9Transport unix(Path path) {
        try {
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(path));
            return new SocketP9Transport(ch, path.getFileName().toString());
        } catch (IOException e) {
            throw new UncheckedIOException("connecting to the 9P server at " + path, e);
        }
    }

    public static SocketP9Transport tcp(SocketAddress address) {
        try {
            SocketChannel ch = SocketChannel.open(address);
            ch.socket().setTcpNoDelay(true);
            return new SocketP9Transport(ch, address.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("connecting to the 9P server at " + address, e);
        }
    }

    private void readLoop() {
        ByteBuffer size = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        try {
            while (true) {
                size.clear();
                fill(size);
                int n = size.getInt(0);
                if (n < 7 || n > (64 << 20)) {
                    throw new IOException("reply of " + n + " bytes");
                }
                ByteBuffer msg = ByteBuffer.allocate(n);
                msg.put(size.array());
                fill(msg);
                byte[] b = msg.array();
                replies.add(new Received((b[5] & 0xff) | (b[6] & 0xff) << 8, b));
            }
        } catch (IOException e) {
            replies.add(e);
        }
    }

    private void fill(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (channel.read(b) < 0) {
                throw new IOException("the server closed the connection");
            }
        }
    }

    @Override
    public void send(byte[] message, int replyCapacity) {
        synchronized (writeLock) {
            ByteBuffer b = ByteBuffer.wrap(message);
            try {
                while (b.hasRemaining()) {
                    channel.write(b);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("sending to the 9P server", e);
            }
        }
    }

    @Override
    public Received receive(Duration timeout) {
        Object o;
        try {
            o = replies.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
        if (o instanceof IOException e) {
            replies.add(e);
            throw new UncheckedIOException(e);
        }
        return (Received) o;
    }

    @Override
    public void close() {
        try {
            channel.close();
            reader.join(5000);
        } catch (IOException e) {
            // closing anyway
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
