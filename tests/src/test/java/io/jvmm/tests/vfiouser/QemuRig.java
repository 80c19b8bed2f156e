package io.jvmm.tests.vfiouser;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The real-driver rig: scripts/build-vfio-user-rig's trixie root with QEMU 11.1 and the Debian
 * guest image, built once per JVM (the script itself caches across runs). {@link #boot} runs QEMU
 * inside the root under TCG with guest RAM in a shared memfd and vfio-user-pci devices whose
 * sockets live in a shared directory, and returns the guest's console and exit status.
 */
public final class QemuRig {
    private static QemuRig instance;

    final Path repo;
    final Path root;
    public final Path kernel;
    public final Path initrd;
    final String qemuVersion;

    private QemuRig(Path repo, Map<String, String> vars) {
        this.repo = repo;
        this.root = Path.of(vars.get("JVMM_RIG_ROOT"));
        this.kernel = Path.of(vars.get("JVMM_GUEST_KERNEL"));
        this.initrd = Path.of(vars.get("JVMM_GUEST_INITRD"));
        this.qemuVersion = vars.get("JVMM_RIG_QEMU_VERSION");
    }

    /**
     * The rig, building it if needed. Skips (JUnit assumption) only when it truly cannot be built
     * here: not root, or Debian's mirror cannot be resolved; any other failure fails the test.
     */
    public static synchronized QemuRig get() throws IOException, InterruptedException {
        if (instance != null) {
            return instance;
        }
        assumeTrue("root".equals(System.getProperty("user.name")), "the vfio-user rig needs root (debootstrap, chroot, mounts)");
        Path repo = repoRoot();
        Process p = new ProcessBuilder(repo.resolve("scripts/build-vfio-user-rig").toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(20, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("scripts/build-vfio-user-rig did not finish within 20 minutes");
        }
        if (p.exitValue() != 0) {
            assumeTrue(mirrorResolves(), "scripts/build-vfio-user-rig failed and deb.debian.org cannot be resolved: "
                    + "no network to Debian's mirror, the rig cannot be built here");
            throw new AssertionError("scripts/build-vfio-user-rig failed with status " + p.exitValue() + " (its log is above)");
        }
        Map<String, String> vars = new HashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (line.startsWith("JVMM_") && eq > 0) {
                vars.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        for (String v : List.of("JVMM_RIG_ROOT", "JVMM_GUEST_KERNEL", "JVMM_GUEST_INITRD", "JVMM_RIG_QEMU_VERSION")) {
            if (!vars.containsKey(v)) {
                throw new AssertionError("scripts/build-vfio-user-rig printed no " + v + "; it printed:\n" + out);
            }
        }
        instance = new QemuRig(repo, vars);
        return instance;
    }

    private static boolean mirrorResolves() {
        try {
            InetAddress.getByName("deb.debian.org");
            return true;
        } catch (UnknownHostException e) {
            return false;
        }
    }

    static Path repoRoot() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isRegularFile(dir.resolve("scripts/build-vfio-user-rig"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new IllegalStateException("cannot find the repository (scripts/build-vfio-user-rig) above " + Path.of("").toAbsolutePath());
        }
        return dir;
    }

    /** The rig's QEMU version (trixie-backports' qemu-system-x86, e.g. "1:11.1.3+ds-2~bpo13+1"). */
    public String qemuVersion() {
        return qemuVersion;
    }

    /** What a boot produced. */
    public record GuestRun(int exitStatus, String console, long millis) {
        /** isa-debug-exit turns the guest's status byte s into QEMU's exit status (s << 1) | 1. */
        public boolean passed() {
            return exitStatus == 1 && console.contains("JVMM-GUEST: PASS status=0");
        }
    }

    /**
     * Boots the guest image with {@code script} as /jvmm-run (appended to the initramfs as a second
     * cpio archive), with {@code share} bind-mounted at /run/jvmm inside the root (sockets and
     * disk images go there), and the given extra QEMU arguments.
     */
    public GuestRun boot(Path share, String script, List<String> qemuArgs, long timeoutSeconds) throws IOException, InterruptedException {
        return boot(share, script, Map.of(), qemuArgs, timeoutSeconds, new ByteArrayOutputStream());
    }

    /** As {@link #boot(Path, String, List, long)}, with the console written to {@code console} as it comes (to watch it live). */
    GuestRun boot(Path share, String script, List<String> qemuArgs, long timeoutSeconds, ByteArrayOutputStream console)
            throws IOException, InterruptedException {
        return boot(share, script, Map.of(), qemuArgs, timeoutSeconds, console);
    }

    /** As above, with more executables in the initramfs (name, e.g. "bin/jvmm-load", to content). */
    public GuestRun boot(Path share, String script, Map<String, byte[]> executables, List<String> qemuArgs, long timeoutSeconds)
            throws IOException, InterruptedException {
        return boot(share, script, executables, qemuArgs, timeoutSeconds, new ByteArrayOutputStream());
    }

    private GuestRun boot(Path share, String script, Map<String, byte[]> executables, List<String> qemuArgs, long timeoutSeconds,
                          ByteArrayOutputStream console)
            throws IOException, InterruptedException {
        return run(inRoot(share, "qemu-system-x86_64"), linuxGuest(share, script, executables, "/run/jvmm", qemuArgs), timeoutSeconds,
                console, null);
    }

    /** Debian 12's own QEMU (7.2, package qemu-system-x86), which {@link #bootHostQemu} runs. */
    public static final Path HOST_QEMU = Path.of("/usr/bin/qemu-system-x86_64");

    /**
     * As {@link #boot}, but under the host's QEMU ({@link #HOST_QEMU}, Debian 12's 7.2) instead of
     * the rig's 11.1: the same guest, kernel, RAM (512 MiB of shared memfd, as vhost-user needs),
     * two vCPUs under TCG and debug-exit port, so the two QEMUs can be compared. Paths in
     * {@code qemuArgs} are the host's (the share is not moved anywhere).
     */
    public GuestRun bootHostQemu(Path share, String script, List<String> qemuArgs, long timeoutSeconds)
            throws IOException, InterruptedException {
        return run(List.of(HOST_QEMU.toString()), linuxGuest(share, script, Map.of(), share.toString(), qemuArgs), timeoutSeconds,
                new ByteArrayOutputStream(), null);
    }

    /** The kernel and the initramfs with {@code script} put in the share, and the machine that boots them (seen at {@code shareInQemu}). */
    private List<String> linuxGuest(Path share, String script, Map<String, byte[]> executables, String shareInQemu, List<String> qemuArgs)
            throws IOException {
        Files.copy(kernel, share.resolve("vmlinuz"), StandardCopyOption.REPLACE_EXISTING);
        initrdWith(script, executables, share.resolve("initrd"));

        // no_timer_check: under TCG on a loaded host the guest kernel's check that the PIT timer
        // reaches the IO-APIC (a few ticks within a calibrated delay) can fail, and it panics at boot
        // ("IO-APIC + timer doesn't work!"), whatever jvmm does; a KVM guest skips that check too.
        // panic=-1 with -no-reboot: a guest that panics anyway ends QEMU at once, with its console,
        // instead of hanging until the timeout.
        List<String> qemu = new ArrayList<>(List.of("-m", "512", "-smp", "2",
                "-object", "memory-backend-memfd,id=mem,size=512M,share=on", "-machine", "q35,memory-backend=mem",
                "-kernel", shareInQemu + "/vmlinuz", "-initrd", shareInQemu + "/initrd",
                "-append", "console=ttyS0 quiet no_timer_check panic=-1"));
        qemu.addAll(qemuArgs);
        return qemu;
    }

    /** The command line that runs {@code program} in the rig's root, with {@code share} at /run/jvmm (arguments follow). */
    public List<String> inRoot(Path share, String program) {
        return List.of("unshare", "--mount", "--propagation", "private", "--",
                repo.resolve("scripts/vfio-user-rig/in-root").toString(), root.toString(), "--share", share + ":/run/jvmm", "--",
                program);
    }

    /**
     * Boots a freestanding ELF (the test guest: QEMU's PVH entry, after SeaBIOS has placed the BARs)
     * with {@code append} as its command line, one vCPU, 256 MiB of shared RAM and no NIC, and
     * the given extra QEMU arguments. Its status byte s makes QEMU exit with (s << 1) | 1.
     */
    GuestRun bootElf(Path share, Path elf, String append, List<String> qemuArgs, long timeoutSeconds)
            throws IOException, InterruptedException {
        Files.copy(elf, share.resolve("guest.elf"), StandardCopyOption.REPLACE_EXISTING);
        List<String> qemu = new ArrayList<>(List.of("-m", "256", "-smp", "1", "-nic", "none",
                "-object", "memory-backend-memfd,id=mem,size=256M,share=on", "-machine", "q35,memory-backend=mem",
                "-kernel", "/run/jvmm/guest.elf", "-append", append));
        qemu.addAll(qemuArgs);
        return run(inRoot(share, "qemu-system-x86_64"), qemu, timeoutSeconds, new ByteArrayOutputStream(), null);
    }

    /**
     * As {@link #boot(Path, String, List, long)}, telling {@code onLine} each console line as it
     * arrives (on the console's reader thread), so the host can act when the guest asks for it.
     */
    public GuestRun boot(Path share, String script, List<String> qemuArgs, long timeoutSeconds, java.util.function.Consumer<String> onLine)
            throws IOException, InterruptedException {
        return run(inRoot(share, "qemu-system-x86_64"), linuxGuest(share, script, Map.of(), "/run/jvmm", qemuArgs), timeoutSeconds,
                new ByteArrayOutputStream(), onLine);
    }

    /** Runs QEMU ({@code qemu}: its command) under TCG with no display, no reboot and isa-debug-exit at 0x501. */
    private GuestRun run(List<String> qemu, List<String> qemuArgs, long timeoutSeconds, ByteArrayOutputStream console,
                         java.util.function.Consumer<String> onLine)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(qemu);
        cmd.addAll(List.of("-accel", "tcg", "-nographic", "-no-reboot", "-device", "isa-debug-exit,iobase=0x501,iosize=2"));
        cmd.addAll(qemuArgs);
        long start = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        Thread pump = new Thread(() -> copy(p.getInputStream(), console, onLine), "qemu-console");
        pump.start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            pump.join(5000);
            throw new AssertionError("the guest did not finish within " + timeoutSeconds + " s; console:\n" + tail(console.toString(StandardCharsets.UTF_8)));
        }
        pump.join(5000);
        return new GuestRun(p.exitValue(), console.toString(StandardCharsets.UTF_8).replace("\r", ""),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
    }

    /**
     * Writes to {@code target} the guest image's initramfs with {@code script} as /jvmm-run
     * (appended as a second cpio archive), for any QEMU that boots the image.
     */
    public Path initrdWith(String script, Path target) throws IOException {
        return initrdWith(script, Map.of(), target);
    }

    /** As above, with more executables (name, e.g. "bin/jvmm-load", to content) beside /jvmm-run. */
    public Path initrdWith(String script, Map<String, byte[]> executables, Path target) throws IOException {
        return initrdWith(initrd, script, executables, target);
    }

    /** As {@link #initrdWith(String, Path)}, on the initramfs {@code baseInitrd} (another build of the guest image). */
    public static Path initrdWith(Path baseInitrd, String script, Path target) throws IOException {
        return initrdWith(baseInitrd, script, Map.of(), target);
    }

    private static Path initrdWith(Path baseInitrd, String script, Map<String, byte[]> executables, Path target) throws IOException {
        byte[] base = Files.readAllBytes(baseInitrd);
        Map<String, byte[]> files = new HashMap<>(executables);
        files.put("jvmm-run", script.getBytes(StandardCharsets.UTF_8));
        byte[] extra = Cpio.withExecutables(files);
        int at = (base.length + 3) & ~3;   // the kernel finds a following archive only at a 4-byte boundary (zeros between are skipped)
        byte[] both = new byte[at + extra.length];
        System.arraycopy(base, 0, both, 0, base.length);
        System.arraycopy(extra, 0, both, at, extra.length);
        Files.write(target, both);
        return target;
    }

    /** The JSON -device form QEMU 11.1 wants for vfio-user-pci (the socket is seen from inside the root). */
    public static List<String> vfioUserDevice(String socketName) {
        return List.of("-device", "{\"driver\":\"vfio-user-pci\",\"socket\":{\"type\":\"unix\",\"path\":\"/run/jvmm/" + socketName + "\"}}");
    }

    /**
     * The start of every guest script that checks things: {@code ok NAME} and {@code bad NAME WHY}
     * print {@code CHECK NAME ok|FAILED: WHY} lines, counting failures in {@code $fails}.
     */
    public static final String CHECKS = """
            #!/bin/sh
            fails=0
            ok() { echo "CHECK $1 ok"; }
            bad() { echo "CHECK $1 FAILED: $2"; fails=$((fails + 1)); }
            """;

    /**
     * The start of a guest script that checks things: {@code ok NAME} and {@code bad NAME WHY} print
     * {@code CHECK NAME ok|FAILED: WHY} lines (counting failures in {@code $fails}), then the PCI
     * function {@code vendor:device} (e.g. "0x1af4", "0x1110") is found in sysfs as {@code $dev}
     * and enabled, or the script fails check "found".
     */
    public static String checkingScript(String vendor, String device) {
        return CHECKS + """
                dev=""
                for d in /sys/bus/pci/devices/*; do
                    [ "$(cat "$d/vendor")" = "%1$s" ] && [ "$(cat "$d/device")" = "%2$s" ] && dev=$d
                done
                [ -n "$dev" ] && ok found || { bad found "no %1$s:%2$s device"; exit 1; }
                echo 1 > "$dev/enable"
                """.formatted(vendor, device);
    }

    /** Every CHECK line of {@code console} says ok, and each of {@code checks} ran. */
    public static void assertChecks(String console, List<String> checks) {
        List<String> failed = console.lines().filter(l -> l.startsWith("CHECK ") && !l.endsWith(" ok")).toList();
        if (!failed.isEmpty()) {
            throw new AssertionError("checks failed in the guest: " + failed + "\n" + tail(console));
        }
        for (String check : checks) {
            if (!console.contains("CHECK " + check + " ok")) {
                throw new AssertionError("check " + check + " did not run\n" + tail(console));
            }
        }
    }

    public static String tail(String console) {
        String[] lines = console.split("\n");
        return String.join("\n", List.of(lines).subList(Math.max(0, lines.length - 60), lines.length));
    }

    private static void copy(InputStream in, ByteArrayOutputStream out, java.util.function.Consumer<String> onLine) {
        try {
            if (onLine == null) {
                in.transferTo(out);
                return;
            }
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            for (int b; (b = in.read()) >= 0; ) {
                out.write(b);
                if (b == '\n') {
                    onLine.accept(line.toString(StandardCharsets.UTF_8).replace("\r", ""));
                    line.reset();
                } else {
                    line.write(b);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
