package io.jvmm.emulator.cli;

import io.jvmm.emulator.config.ConfigParser;
import io.jvmm.emulator.config.MachineConfig;
import io.jvmm.emulator.config.UserError;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

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

    @Option(names = "-object", paramLabel = "memory-backend-memfd,id=ID,size=SIZE,share=on", description = "guest RAM backend")
    List<String> objects = new ArrayList<>();

    @Option(names = "-chardev", paramLabel = "socket,id=ID,path=PATH[,server=on,wait=off]", description = "a Unix socket character device")
    List<String> chardevs = new ArrayList<>();

    @Option(names = "-drive", paramLabel = "file=FILE,format=raw,if=none,id=ID[,readonly=on]", description = "a disk image")
    List<String> drives = new ArrayList<>();

    @Option(names = "-device", paramLabel = "DRIVER[,PROP=VALUE...]",
            description = {"virtio-blk-pci,drive=ID[,serial=S,queue-size=N]",
                    "virtio-rng-pci",
                    "vhost-user-fs-pci,chardev=ID,tag=TAG[,num-request-queues=N,queue-size=M,x-sync-vring=off]",
                    "isa-debug-exit[,iobase=0x501,iosize=2]"})
    List<String> devices = new ArrayList<>();

    @Option(names = "--vfio-user-socket", paramLabel = "PATH",
            description = "serve the PCI -device(s) over vfio-user on this Unix socket instead of booting a guest; "
                    + "repeat it for one socket per device, or give one PATH and the others get PATH-<device id>")
    List<Path> vfioUserSockets = new ArrayList<>();

    /** The sockets to serve the devices on (empty: boot a guest). */
    public List<Path> vfioUserSockets() {
        return List.copyOf(vfioUserSockets);
    }

    /** The validated devices to serve over vfio-user (no -kernel needed). */
    public MachineConfig toDeviceServerConfig() {
        if (accel != null) {
            throw new UserError("-accel " + accel + ": a vfio-user device server runs no guest, drop -accel");
        }
        return ConfigParser.parseDevicesOnly(new ConfigParser.RawOptions(memory, smp, kernel, initrd, append, noReboot,
                objects, chardevs, drives, devices));
    }

    /** The validated machine configuration. */
    public MachineConfig toConfig() {
        if (accel != null && !accel.equals("kvm")) {
            throw new UserError("-accel " + accel + ": only kvm is supported");
        }
        return ConfigParser.parse(new ConfigParser.RawOptions(memory, smp, kernel, initrd, append, noReboot,
                objects, chardevs, drives, devices));
    }
}
