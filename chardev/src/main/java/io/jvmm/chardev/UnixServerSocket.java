package io.jvmm.chardev;

import io.jvmm.chardev.nativ.UnixSockets;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A listening AF_UNIX stream socket bound to a path (close-on-exec, blocking accept). */
public final class UnixServerSocket implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(UnixServerSocket.class);
    private static final int BACKLOG = 16;

    private final int fd;
    private final Path path;
    private final FdUsers users = new FdUsers();

    private UnixServerSocket(int fd, Path path) {
        this.fd = fd;
        this.path = path;
    }

    /**
     * Binds and listens on path. A stale socket file (nobody accepts on it) is removed first; a
     * path that exists and is not a socket, or a socket a live server answers on, is refused.
     */
    public static UnixServerSocket listen(Path path) {
        removeStaleSocket(path);
        int fd = UnixSockets.socket(false);
        try {
            UnixSockets.bind(fd, path);
            UnixSockets.listen(fd, BACKLOG);
        } catch (RuntimeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
        log.debug("listening on {} (fd {})", path, fd);
        return new UnixServerSocket(fd, path);
    }

    private static void removeStaleSocket(Path path) {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException e) {
            return;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot inspect unix socket path " + path, e);
        }
        if (!attrs.isOther() || !isSocket(path)) {
            throw new IllegalArgumentException("cannot listen on " + path + ": it exists and is not a socket");
        }
        Optional<UnixSocketChannel> live = UnixSocketChannel.tryConnect(path);
        if (live.isPresent()) {
            live.get().close();
            throw new IllegalStateException("cannot listen on " + path + ": a live server is accepting on it");
        }
        try {
            Files.deleteIfExists(path);
            log.info("removed stale socket {}", path);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove stale socket " + path, e);
        }
    }

    private static boolean isSocket(Path path) {
        try {
            Object mode = Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
            return ((Integer) mode & 0170000) == 0140000; // S_IFSOCK
        } catch (IOException | UnsupportedOperationException e) {
            throw new IllegalArgumentException("cannot tell whether " + path + " is a socket", e);
        }
    }

    /**
     * Waits for and returns the next connection (blocking).
     *
     * @throws IllegalStateException if the listener is closed
     * @throws NativeException EINVAL if close() ends the wait
     */
    public UnixSocketChannel accept() {
        if (!users.enter()) {
            throw new IllegalStateException("listener on " + path + " is closed");
        }
        int client;
        try {
            client = UnixSockets.accept(fd);
        } finally {
            if (users.exit()) {
                Fds.closeQuietly(fd);   // close() came while we were accepting: the last one out releases the fd
            }
        }
        log.debug("accepted fd {} on {}", client, path);
        return UnixSocketChannel.accepted(client, path);
    }

    public int fd() {
        ensureOpen();
        return fd;
    }

    public Path path() {
        return path;
    }

    public boolean isClosed() {
        return users.isClosed();
    }

    /**
     * Stops listening (waking a blocked accept) and removes the socket file; idempotent. The fd
     * is released once no accept that began before close() is still using it.
     */
    @Override
    public void close() {
        if (!users.close()) {
            return;
        }
        try {
            NativeException shutdownFailure = UnixSockets.shutdownForClose(fd); // wakes a blocked accept (EINVAL)
            if (shutdownFailure != null) {
                log.warn("{}: {}", this, shutdownFailure.getMessage());
            }
        } finally {
            if (users.exit()) {
                Fds.close(fd);
            }
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            log.warn("could not remove socket file {}: {}", path, e.toString());
        }
        log.debug("closed listener on {}", path);
    }

    private void ensureOpen() {
        if (users.isClosed()) {
            throw new IllegalStateException("listener on " + path + " is closed");
        }
    }

    @Override
    public String toString() {
        return "unix listener fd " + fd + " on " + path;
    }
}
