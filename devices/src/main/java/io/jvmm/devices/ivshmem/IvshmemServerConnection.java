package io.jvmm.devices.ivshmem;

import io.jvmm.chardev.Fds;
import io.jvmm.chardev.NativeException;
import io.jvmm.chardev.ReceiveTimeoutException;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.devices.ivshmem.IvshmemProtocol.Message;
import io.jvmm.devices.ivshmem.IvshmemProtocol.ServerClosedException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client side of the ivshmem server protocol: connects to the server's socket and runs the
 * synchronous part of the setup (rule 6), what QEMU's device has received inside realize since
 * 2016: the protocol version (0), our id, then messages until the shared memory (-1 with an fd)
 * arrives, all within a timeout. Messages that came before the shared memory (peers' eventfds,
 * from a server that sends them early) are handed on with the result; everything later is read
 * by the device on its event context.
 */
public final class IvshmemServerConnection {
    private static final Logger log = LoggerFactory.getLogger(IvshmemServerConnection.class);

    /** What the setup established; the caller owns the channel, the memory and the early messages' fds. */
    public record Setup(UnixSocketChannel channel, IvshmemProtocol.Reader reader, int id, SharedMemory memory,
                        List<Message> early) {
    }

    private IvshmemServerConnection() {
    }

    /**
     * Connects to {@code chardev}'s socket and runs the setup within {@code timeout}. On failure
     * nothing is left open and the exception names the server ({@code who}) and what was wrong.
     */
    public static Setup setup(String who, SocketChardevSpec chardev, Duration timeout) {
        String server = "the ivshmem server on chardev '" + chardev.id() + "' (" + chardev.path() + ")";
        if (chardev.server()) {
            throw new IvshmemSetupException(who + ": chardev '" + chardev.id() + "' must connect to an ivshmem server "
                    + "(server=off), not listen");
        }
        Optional<UnixSocketChannel> connected;
        try {
            connected = UnixSocketChannel.tryConnect(chardev.path());
        } catch (NativeException e) {
            throw new IvshmemSetupException(who + ": cannot connect to " + server + ": " + e.getMessage(), e);
        }
        if (connected.isEmpty()) {
            throw new IvshmemSetupException(who + ": no ivshmem server listens on " + chardev.path() + " (chardev '"
                    + chardev.id() + "'); start one, e.g. scripts/jvmm-ivshmem-server --socket " + chardev.path()
                    + " --memfd --size 4M --vectors 1");
        }
        UnixSocketChannel channel = connected.get();
        IvshmemProtocol.Reader reader = new IvshmemProtocol.Reader(channel);
        List<Message> early = new ArrayList<>();
        SharedMemory memory = null;
        String got = "nothing";
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            Message version = next(channel, reader, deadline, timeout, server, got);
            closeFd(version);
            if (version.value() != IvshmemProtocol.VERSION) {
                throw new IvshmemSetupException(server + " speaks protocol version " + version.value() + "; jvmm speaks version "
                        + IvshmemProtocol.VERSION + " (QEMU's since 2.5)");
            }
            if (version.hasFd()) {
                throw new IvshmemSetupException(server + " sent a file descriptor with its version message (malformed)");
            }
            got = "the version";
            Message idMessage = next(channel, reader, deadline, timeout, server, got);
            closeFd(idMessage);
            if (idMessage.hasFd() || idMessage.value() < 0 || idMessage.value() > IvshmemProtocol.MAX_ID) {
                throw new IvshmemSetupException(server + " sent an invalid id message (" + idMessage + "; an id is 0.."
                        + IvshmemProtocol.MAX_ID + " without a file descriptor)");
            }
            int id = (int) idMessage.value();
            got = "the version and id " + id;
            while (memory == null) {
                Message m = next(channel, reader, deadline, timeout, server, got);
                if (m.value() == IvshmemProtocol.SHARED_MEMORY) {
                    if (!m.hasFd()) {
                        throw new IvshmemSetupException(server + " sent the shared-memory message (-1) without its file descriptor");
                    }
                    memory = map(server, m.fd());
                } else if (m.value() < -1 || m.value() > IvshmemProtocol.MAX_ID) {
                    closeFd(m);
                    throw new IvshmemSetupException(server + " sent an invalid message " + m.value() + " (expected -1 or a peer id 0.."
                            + IvshmemProtocol.MAX_ID + ")");
                } else {
                    early.add(m);
                }
            }
            log.debug("{}: {} gave id {} and {} bytes of shared memory ({} messages before it)", who, server, id, memory.size(),
                    early.size());
            channel.setReceiveTimeout(Duration.ZERO);
            return new Setup(channel, reader, id, memory, early);
        } catch (RuntimeException e) {
            for (Message m : early) {
                closeFd(m);
            }
            if (memory != null) {
                memory.close();
            }
            reader.discard();
            channel.close();
            if (e instanceof IvshmemSetupException) {
                throw new IvshmemSetupException(who + ": " + e.getMessage(), e);
            }
            throw new IvshmemSetupException(who + ": the setup with " + server + " failed after " + got + ": " + e.getMessage(), e);
        }
    }

    private static Message next(UnixSocketChannel channel, IvshmemProtocol.Reader reader, long deadline, Duration timeout,
                                String server, String got) {
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw timedOut(server, timeout, got, reader);
            }
            channel.setReceiveTimeout(Duration.ofNanos(Math.max(left, 1_000_000)));
            try {
                Message m = reader.readSome();
                if (m != null) {
                    return m;
                }
            } catch (ReceiveTimeoutException e) {
                throw timedOut(server, timeout, got, reader);
            } catch (ServerClosedException e) {
                throw new IvshmemSetupException(server + " " + e.getMessage() + " after " + got
                        + ", before the shared memory arrived");
            }
        }
    }

    private static IvshmemSetupException timedOut(String server, Duration timeout, String got, IvshmemProtocol.Reader reader) {
        String partial = reader.partialBytes() > 0 ? ", then " + reader.partialBytes() + " of the " + IvshmemProtocol.MESSAGE_BYTES
                + " bytes of a message (truncated)" : "";
        return new IvshmemSetupException(server + " did not finish the setup within " + timeout.toMillis() + " ms (got " + got
                + partial + "; waiting for " + (got.equals("nothing") ? "the protocol version" : got.equals("the version") ? "our id"
                : "the shared memory") + "); raise the chardev's timeout-ms= if the server is just slow");
    }

    /** Maps the server's shared memory (its whole size) or fails naming why; takes the fd. */
    private static SharedMemory map(String server, int fd) {
        long size;
        try {
            size = Files.size(Path.of("/proc/self/fd/" + fd));
        } catch (IOException e) {
            Fds.closeQuietly(fd);
            throw new IvshmemSetupException("cannot tell the size of the shared memory " + server + " sent: " + e.getMessage(), e);
        }
        if (size < 4096 || Long.bitCount(size) != 1) {
            Fds.closeQuietly(fd);
            throw new IvshmemSetupException(server + " shares " + size + " bytes of memory; BAR2 needs a power of two of at least 4 KiB");
        }
        try {
            return SharedMemory.map(fd, 0, size, true);
        } catch (RuntimeException e) {
            throw new IvshmemSetupException("cannot map the " + size + " bytes of shared memory " + server + " sent: " + e.getMessage(), e);
        }
    }

    static void closeFd(Message m) {
        if (m.hasFd()) {
            Fds.closeQuietly(m.fd());
        }
    }
}
