package io.jvmm.tests.racelab;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Race (c)'s historic half: qemu-storage-daemon serving an NBD export and, in the same process,
 * opening a qcow2 image whose backing file is that export. The NBD client connects synchronously
 * from the main loop, which is also the loop that would accept and serve the connection, so the
 * daemon never finishes starting: no pid file, no answer on QMP (the monitor's own thread still
 * sends the greeting), and it ignores SIGTERM (its handler only asks the blocked main loop to
 * quit); only SIGKILL ends it. The control runs the same two halves in two processes, which
 * completes at once.
 */
public final class QsdNbdSelfDeadlock {
    public static final Path QSD = Path.of("/usr/bin/qemu-storage-daemon");
    public static final Path QEMU_IMG = Path.of("/usr/bin/qemu-img");

    /**
     * A qemu-storage-daemon to run: its command line up to the program, and where a path of the run's
     * directory is seen by it.
     */
    public record Daemon(String label, List<String> command, Function<Path, String> at) {
        /** Debian 12's, on the host ({@link #QSD}). */
        public static final Daemon HOST = new Daemon("host", List.of(QSD.toString()), Path::toString);

        /**
         * Another build ({@code binary}, e.g. trixie-backports' 11.1 taken from its qemu-utils
         * package by scripts/race-lab) run in the vfio-user rig's root, which has its libraries; the
         * run's directory is shared at /run/jvmm and the binary is copied there.
         */
        public static Daemon inRig(Path binary, Path dir) throws IOException, InterruptedException {
            Path copy = dir.resolve("qemu-storage-daemon");
            Files.copy(binary, copy, StandardCopyOption.REPLACE_EXISTING);
            Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwx------"));
            return new Daemon("rig", io.jvmm.tests.vfiouser.QemuRig.get().inRoot(dir, "/run/jvmm/qemu-storage-daemon"),
                    p -> "/run/jvmm/" + dir.relativize(p));
        }

        /** The first line of its --version. */
        public String version() throws IOException, InterruptedException {
            List<String> cmd = new ArrayList<>(command);
            cmd.add("--version");
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(60, TimeUnit.SECONDS);
            return out.lines().filter(l -> l.startsWith("qemu-storage-daemon")).findFirst().orElse("?");
        }
    }

    /**
     * @param completed      the daemon that opens the qcow2 finished starting (wrote its pid file) within the bound
     * @param qmpAnswered    it answered qmp_capabilities (only probed for the self-serving daemon)
     * @param ignoredSigterm it was still alive a while after SIGTERM (and was SIGKILLed)
     */
    public record Outcome(boolean completed, long millis, boolean qmpAnswered, boolean ignoredSigterm, String log) {
    }

    private QsdNbdSelfDeadlock() {
    }

    /** The version line of {@link #QSD}. */
    public static String version() throws IOException, InterruptedException {
        return Daemon.HOST.version();
    }

    /** One daemon (Debian 12's) serves base.raw over NBD and opens top.qcow2 backed by that export. */
    public static Outcome selfServed(Path dir, Duration bound) throws IOException, InterruptedException {
        return selfServed(Daemon.HOST, dir, bound);
    }

    /** As above, with {@code daemon}. */
    public static Outcome selfServed(Daemon daemon, Path dir, Duration bound) throws IOException, InterruptedException {
        Function<Path, String> at = daemon.at();
        prepare(dir, at);
        List<String> cmd = new ArrayList<>(daemon.command());
        cmd.addAll(List.of("--chardev", "socket,id=m,path=" + at.apply(dir.resolve("qmp.sock")) + ",server=on,wait=off",
                "--monitor", "chardev=m"));
        cmd.addAll(serverArgs(dir, at));
        cmd.addAll(topArgs(dir, at, "qsd.pid"));
        Process qsd = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("qsd.log").toFile()).start();
        try {
            long start = System.nanoTime();
            boolean completed = awaitFile(dir.resolve("qsd.pid"), qsd, bound);
            long millis = (System.nanoTime() - start) / 1_000_000;
            boolean answered = qmpAnswers(dir.resolve("qmp.sock"), Duration.ofSeconds(2));
            boolean ignored = ignoresSigterm(qsd, Duration.ofSeconds(3));
            return new Outcome(completed, millis, answered, ignored, Files.readString(dir.resolve("qsd.log")));
        } finally {
            kill(qsd);
        }
    }

    /** The control: one daemon serves the export, a second one opens top.qcow2 backed by it. */
    public static Outcome separateServer(Path dir, Duration bound) throws IOException, InterruptedException {
        prepare(dir, Path::toString);
        List<String> server = new ArrayList<>(List.of(QSD.toString()));
        server.addAll(serverArgs(dir, Path::toString));
        server.addAll(List.of("--pidfile", dir.resolve("server.pid").toString()));
        Process s = new ProcessBuilder(server).redirectErrorStream(true).redirectOutput(dir.resolve("server.log").toFile()).start();
        Process top = null;
        try {
            if (!awaitFile(dir.resolve("server.pid"), s, bound)) {
                throw new AssertionError("the NBD server daemon did not start: " + Files.readString(dir.resolve("server.log")));
            }
            List<String> cmd = new ArrayList<>(List.of(QSD.toString()));
            cmd.addAll(topArgs(dir, Path::toString, "top.pid"));
            top = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("top.log").toFile()).start();
            long start = System.nanoTime();
            boolean completed = awaitFile(dir.resolve("top.pid"), top, bound);
            long millis = (System.nanoTime() - start) / 1_000_000;
            return new Outcome(completed, millis, false, false, Files.readString(dir.resolve("top.log")));
        } finally {
            if (top != null) {
                kill(top);
            }
            kill(s);
        }
    }

    private static void prepare(Path dir, Function<Path, String> at) throws IOException, InterruptedException {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        try (var f = new java.io.RandomAccessFile(dir.resolve("base.raw").toFile(), "rw")) {
            f.setLength(64L << 20);
        }
        // -u: the backing export does not exist yet, so qemu-img must not open it
        Process img = new ProcessBuilder(QEMU_IMG.toString(), "create", "-q", "-f", "qcow2", "-u",
                "-b", "nbd+unix:///base?socket=" + at.apply(dir.resolve("nbd.sock")), "-F", "raw", dir.resolve("top.qcow2").toString(), "64M")
                .redirectErrorStream(true).start();
        String out = new String(img.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!img.waitFor(60, TimeUnit.SECONDS) || img.exitValue() != 0) {
            throw new AssertionError("qemu-img create failed: " + out);
        }
    }

    private static List<String> serverArgs(Path dir, Function<Path, String> at) {
        return List.of("--blockdev", "driver=file,filename=" + at.apply(dir.resolve("base.raw")) + ",node-name=base",
                "--nbd-server", "addr.type=unix,addr.path=" + at.apply(dir.resolve("nbd.sock")),
                "--export", "type=nbd,id=e0,node-name=base,name=base,writable=on");
    }

    private static List<String> topArgs(Path dir, Function<Path, String> at, String pidFile) {
        return List.of("--blockdev", "driver=qcow2,node-name=top,file.driver=file,file.filename=" + at.apply(dir.resolve("top.qcow2")),
                "--pidfile", at.apply(dir.resolve(pidFile)));
    }

    /** Waits for the daemon's pid file (written once it has started), the process's end, or the bound. */
    private static boolean awaitFile(Path file, Process p, Duration bound) throws InterruptedException {
        long deadline = System.nanoTime() + bound.toNanos();
        while (System.nanoTime() - deadline < 0) {
            if (Files.exists(file)) {
                return true;
            }
            if (p.waitFor(20, TimeUnit.MILLISECONDS)) {
                return Files.exists(file);
            }
        }
        return false;
    }

    /** Whether QMP answers qmp_capabilities within {@code bound} (the greeting alone does not count). */
    static boolean qmpAnswers(Path socket, Duration bound) throws IOException {
        if (!Files.exists(socket)) {
            return false;
        }
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket)); Selector sel = Selector.open()) {
            ch.configureBlocking(false);
            ch.register(sel, SelectionKey.OP_READ);
            StringBuilder got = new StringBuilder();
            long deadline = System.nanoTime() + bound.toNanos();
            boolean sent = false;
            ByteBuffer buf = ByteBuffer.allocate(4096);
            while (System.nanoTime() - deadline < 0) {
                sel.select(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                sel.selectedKeys().clear();
                buf.clear();
                int n = ch.read(buf);
                if (n < 0) {
                    return false;
                }
                got.append(new String(buf.array(), 0, n, StandardCharsets.UTF_8));
                if (!sent && got.indexOf("\"QMP\"") >= 0 && got.indexOf("\n") >= 0) {
                    ch.write(ByteBuffer.wrap("{\"execute\":\"qmp_capabilities\"}\n".getBytes(StandardCharsets.UTF_8)));
                    sent = true;
                }
                if (sent && got.indexOf("\"return\"") >= 0) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Sends SIGTERM; true if the process is still alive after {@code grace}. */
    private static boolean ignoresSigterm(Process p, Duration grace) throws InterruptedException {
        p.destroy();
        return !p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static void kill(Process p) throws InterruptedException {
        p.descendants().forEach(ProcessHandle::destroyForcibly);   // the daemon itself when it runs under in-root
        if (p.isAlive()) {
            p.destroyForcibly();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                throw new AssertionError("qemu-storage-daemon " + p.pid() + " survived SIGKILL");
            }
        }
    }
}
