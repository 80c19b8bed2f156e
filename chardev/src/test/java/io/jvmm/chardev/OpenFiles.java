package io.jvmm.chardev;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Which fds of this process refer to a given open file, told apart by what the file is rather
 * than by how many fds the process has: a count of /proc/self/fd changes whenever any other
 * thread (a context shutting down, the JIT, logging, the test runner) opens or closes something,
 * and an fd number says nothing once it is closed, because the next open anywhere reuses it.
 *
 * <p>A file is identified by the device and inode /proc/self/fd/N leads to, plus, for an eventfd
 * (all eventfds share one anonymous inode), the {@code eventfd-id} the kernel shows in
 * /proc/self/fdinfo/N. Such an identity is unique while the file is open; an eventfd's id is
 * reused as soon as the eventfd is gone, so keep one fd of your own open while you check. Usage:
 * take the {@link #identity} of the fd you keep, hand a copy to the code under test, then
 * {@link #assertOnlyOpenAs} your own fd once that code should have closed its copy.
 */
public final class OpenFiles {
    private static final Path FDS = Path.of("/proc/self/fd");

    private OpenFiles() {
    }

    /**
     * What an open file is: {@code target} as /proc shows it (for messages), its device and inode,
     * and an instance id where the inode is shared (eventfds).
     */
    public record Identity(String target, long device, long inode, String instance) {
        @Override
        public String toString() {
            return target + " (dev " + device + ", ino " + inode + (instance.isEmpty() ? "" : ", " + instance) + ")";
        }
    }

    /**
     * The identity of the file fd refers to now.
     *
     * @throws IllegalArgumentException if fd is not open, or is an anonymous file other than an
     *         eventfd (those share an inode and the kernel shows no id to tell them apart)
     */
    public static Identity identity(int fd) {
        Identity id = read(fd);
        if (id == null) {
            throw new IllegalArgumentException("fd " + fd + " is not open");
        }
        if (id.target().startsWith("anon_inode:") && id.instance().isEmpty()) {
            throw new IllegalArgumentException("fd " + fd + " is " + id.target() + ": files of that kind cannot be told apart");
        }
        return id;
    }

    /** Every fd of this process that refers to the file, in ascending order. */
    public static List<Integer> fdsOf(Identity file) {
        List<Integer> found = new ArrayList<>();
        for (int fd : openFds()) {
            if (file.equals(read(fd))) {
                found.add(fd);
            }
        }
        return found;
    }

    /**
     * Asserts that the file is open under exactly the fds given (the caller's own), so every
     * other copy, received or duplicated, has been closed.
     */
    public static void assertOnlyOpenAs(Identity file, String what, int... own) {
        List<Integer> expected = sorted(own);
        List<Integer> found = fdsOf(file);
        if (!found.equals(expected)) {
            throw new AssertionError(what + ": " + file + " is open as fds " + found + ", expected only " + expected);
        }
    }

    /**
     * Waits (up to a bound that only guards against a hang) until the file is open under exactly
     * the fds given, for code that closes its copies on another thread.
     */
    public static void awaitOnlyOpenAs(Identity file, String what, int... own) {
        List<Integer> expected = sorted(own);
        Await.until(() -> fdsOf(file).equals(expected), Await.HANG_GUARD,
                () -> what + ": " + file + " is still open as fds " + fdsOf(file) + ", expected only " + expected);
    }

    /** Identities of several fds, keyed by fd, for one call that checks them all. */
    public static Map<Integer, Identity> identities(int... fds) {
        Map<Integer, Identity> ids = new LinkedHashMap<>();
        for (int fd : fds) {
            ids.put(fd, identity(fd));
        }
        return ids;
    }

    /** As {@link #awaitOnlyOpenAs} for each entry: every file is open only as its own fd. */
    public static void awaitOnlyOpenAs(Map<Integer, Identity> files, String what) {
        files.forEach((fd, id) -> awaitOnlyOpenAs(id, what, fd));
    }

    /** __SO_ACCEPTCON in the Flags column of /proc/net/unix: the socket listens. */
    private static final long SO_ACCEPTCON = 0x10000;

    /**
     * Whether a socket bound at {@code path} listens (in this network namespace), read from
     * /proc/net/unix without connecting. The file of a Unix socket appears at bind, before listen:
     * a peer that connects once (QEMU's vfio-user-pci and QMP clients do) and is started when the
     * file exists can be refused. Waiting for this instead is exact, and unlike a probe connection
     * it is not a client the server has to deal with.
     */
    public static boolean isListening(Path path) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/net/unix"))) {
                // Num RefCount Protocol Flags Type St Inode [Path]
                String[] f = line.trim().split("\\s+");
                if (f.length >= 8 && f[7].equals(path.toString()) && f[3].matches("[0-9A-Fa-f]+")
                        && (Long.parseLong(f[3], 16) & SO_ACCEPTCON) != 0) {
                    return true;
                }
            }
            return false;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/net/unix", e);
        }
    }

    /**
     * The inodes of the connected sockets a listener on {@code listenPath} has accepted and that
     * are still open somewhere in this network namespace (/proc/net/unix lists an accepted socket
     * with its listener's path; the connecting side has none). Empty once the server has closed
     * every connection it accepted there.
     */
    public static List<Long> acceptedConnectionsOn(Path listenPath) {
        try {
            List<Long> inodes = new ArrayList<>();
            for (String line : Files.readAllLines(Path.of("/proc/net/unix"))) {
                // Num RefCount Protocol Flags Type St Inode [Path]; St 03 = connected
                String[] f = line.trim().split("\\s+");
                if (f.length >= 8 && f[5].equals("03") && f[7].equals(listenPath.toString())) {
                    inodes.add(Long.parseLong(f[6]));
                }
            }
            return inodes;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read /proc/net/unix", e);
        }
    }

    private static List<Integer> sorted(int... fds) {
        return java.util.Arrays.stream(fds).sorted().boxed().toList();
    }

    private static List<Integer> openFds() {
        try (Stream<Path> s = Files.list(FDS)) {
            return s.map(p -> Integer.parseInt(p.getFileName().toString())).sorted().toList();
        } catch (IOException e) {
            throw new IllegalStateException("cannot list " + FDS, e);
        }
    }

    /** The identity fd has now, or null if it is not open (or was closed while being read). */
    private static Identity read(int fd) {
        Path link = FDS.resolve(Integer.toString(fd));
        try {
            String target = Files.readSymbolicLink(link).toString();
            long device = ((Number) Files.getAttribute(link, "unix:dev")).longValue();
            long inode = ((Number) Files.getAttribute(link, "unix:ino")).longValue();
            String instance = "";
            if (target.equals("anon_inode:[eventfd]")) {
                instance = fdinfo(fd, "eventfd-id:");
            }
            return new Identity(target, device, inode, instance);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            return null;   // closed between the steps (ENOENT under another name): not open now
        }
    }

    private static String fdinfo(int fd, String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo", Integer.toString(fd)))) {
            if (line.startsWith(key)) {
                return line.replaceAll("\\s+", " ").trim();
            }
        }
        throw new IllegalStateException("/proc/self/fdinfo/" + fd + " has no '" + key
                + "' line (kernel too old to tell eventfds apart)");
    }
}
