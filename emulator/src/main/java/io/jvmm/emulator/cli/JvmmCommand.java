package io.jvmm.emulator.cli;

import io.jvmm.monitor.qmp.QmpEndpoint;
import io.jvmm.monitor.qmp.QmpServers;
import io.jvmm.emulator.metrics.MetricsOptions;
import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.Registry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** jvmm's command line: the subset of QEMU's options jvmm supports, spelled as QEMU spells them. */
@Command(name = "jvmm", mixinStandardHelpOptions = true, version = "jvmm 0.1.0",
        sortOptions = false, usageHelpWidth = 100,
        description = {"A virtual-machine monitor in Java. Boots a Linux bzImage or a 64-bit ELF guest under KVM.", ""},
        footer = {"", "Example:",
                "  jvmm -m 256 -kernel guest.elf -nographic -device isa-debug-exit,iobase=0x501,iosize=2 \\",
                "       -drive file=disk.img,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0 -device virtio-rng-pci"})
public final class JvmmCommand {
    @Option(names = "-m", paramLabel = "SIZE", description = "guest RAM (MiB, or with a K/M/G suffix; default 128M)")
    String memory;

    @Option(names = "-smp", paramLabel = "N", description = "number of vCPUs (default 1)")
    String smp;

    @Option(names = "-kernel", paramLabel = "FILE", description = "a Linux bzImage or a 64-bit ELF executable")
    Path kernel;

    @Option(names = "-initrd", paramLabel = "FILE", description = "initial RAM disk for a Linux kernel")
    Path initrd;

    @Option(names = "-append", paramLabel = "CMDLINE", description = "kernel command line")
    String append;

    @Option(names = "-nographic", description = "no display; the serial console is on stdio (always the case in jvmm)")
    boolean nographic;

    @Option(names = "-no-reboot", description = "exit instead of rebooting (jvmm never reboots: accepted for QEMU compatibility)")
    boolean noReboot;

    @Option(names = "-accel", paramLabel = "kvm", description = "accelerator: only kvm")
    String accel;

    @Option(names = "-object", paramLabel = "TYPE,id=ID,...",
            description = "a memory back-end: guest RAM, or shared memory a device uses (-object help lists the types)")
    List<String> objects = new ArrayList<>();

    @Option(names = "-chardev", paramLabel = "socket,id=ID,path=PATH[,server=on,wait=off]",
            description = "a Unix socket character device (-chardev socket,help lists its properties)")
    List<String> chardevs = new ArrayList<>();

    @Option(names = "-drive", paramLabel = "file=FILE,format=raw,if=none,id=ID[,readonly=on]", description = "a disk image")
    List<String> drives = new ArrayList<>();

    @Option(names = "-blockdev", paramLabel = "driver=DRIVER,node-name=ID,...", description = "a block node")
    List<String> blockdevs = new ArrayList<>();

    @Option(names = "-nbd-server", paramLabel = "addr.type=unix,addr.path=PATH|addr.type=inet,addr.host=H,addr.port=P",
            description = "serve -export(s) over NBD (as qemu-storage-daemon's --nbd-server; x-nbd-listener=main-loop is an experiment switch)")
    String nbdServer;

    @Option(names = "-export", paramLabel = "type=nbd,id=ID,node-name=NODE[,name=NAME][,writable=on]",
            description = "an NBD export of a -blockdev node (as qemu-storage-daemon's --export type=nbd)")
    List<String> exports = new ArrayList<>();

    @Option(names = "-fsdev", paramLabel = "local,id=ID,path=DIR,...", description = "a directory to share")
    List<String> fsdevs = new ArrayList<>();

    @Option(names = "-device", paramLabel = "DRIVER[,PROP=VALUE...]",
            description = {"a device; -device help lists the devices, -device DRIVER,help a device's properties"})
    List<String> devices = new ArrayList<>();

    @Option(names = "--vfio-user-socket", paramLabel = "PATH",
            description = "serve the PCI -device(s) over vfio-user on this Unix socket instead of booting a guest; "
                    + "repeat it for one socket per device, or give one PATH and the others get PATH-<device id>")
    List<Path> vfioUserSockets = new ArrayList<>();

    @Option(names = "-qmp", paramLabel = "unix:PATH,server=on,wait=off",
            description = "a QMP monitor (QEMU's protocol) on a Unix socket, or tcp:127.0.0.1:PORT,server=on,wait=off; may be repeated")
    List<String> qmp = new ArrayList<>();

    /** Where to serve QMP, validated ({@code -qmp}). */
    public List<QmpEndpoint> qmpEndpoints() {
        return QmpServers.parse(qmp);
    }

    /**
     * Starts the {@code -nbd-server} and its {@code -export}s (before the devices, so a device may
     * use an export of this very process); without {@code -nbd-server}, no server yet (QMP's
     * nbd-server-start may start one). Close it after the machine.
     */
    public io.jvmm.devices.nbd.NbdExports startNbdExports(MachineConfig config) {
        return io.jvmm.devices.nbd.NbdExports.start(nbdServer, exports, config.backends());
    }

    @Option(names = "-metrics", paramLabel = "prometheus[,host=ADDRESS][,port=PORT]",
            description = "serve the meters (devices, MSI-X, vCPU exits, JVM) in Prometheus's text format at "
                    + "http://ADDRESS:PORT/metrics; host defaults to 127.0.0.1, port 0 (the default) takes a free port")
    String metrics;

    /** -metrics, validated, if given. */
    public Optional<MetricsOptions> metrics() {
        return metrics == null ? Optional.empty() : Optional.of(MetricsOptions.parse(metrics));
    }

    /** The sockets to serve the devices on (empty: boot a guest). */
    public List<Path> vfioUserSockets() {
        return List.copyOf(vfioUserSockets);
    }

    /** The validated devices to serve over vfio-user (no -kernel needed). */
    public MachineConfig toDeviceServerConfig() {
        if (accel != null) {
            throw new UserError("-accel " + accel + ": a vfio-user device server runs no guest, drop -accel");
        }
        return ConfigParser.parseDevicesOnly(Registry.load(), raw());
    }

    /** The validated machine configuration. */
    public MachineConfig toConfig() {
        if (accel != null && !accel.equals("kvm")) {
            throw new UserError("-accel " + accel + ": only kvm is supported");
        }
        return ConfigParser.parse(Registry.load(), raw());
    }

    private ConfigParser.RawOptions raw() {
        return new ConfigParser.RawOptions(memory, smp, kernel, initrd, append, noReboot, backends(), devices);
    }

    private Map<BackendKind, List<String>> backends() {
        Map<BackendKind, List<String>> all = new EnumMap<>(BackendKind.class);
        all.put(BackendKind.OBJECT, objects);
        all.put(BackendKind.CHARDEV, chardevs);
        all.put(BackendKind.DRIVE, drives);
        all.put(BackendKind.BLOCKDEV, blockdevs);
        all.put(BackendKind.FSDEV, fsdevs);
        return all;
    }

    /**
     * The help text asked for with QEMU's spelling ({@code -device help}, {@code -device DRIVER,help},
     * {@code -chardev help}, {@code -object TYPE,help}, ...), if any.
     */
    public Optional<String> helpRequested() {
        return HelpRequest.find(Registry.load(), devices, backends());
    }
}
