package io.jvmm.emulator.config;

import io.jvmm.chardev.SocketChardevSpec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Turns QEMU-style option values into a {@link MachineConfig}. Every mistake is a
 * {@link UserError} naming the option, the device or the property at fault.
 */
public final class ConfigParser {
    public static final long DEFAULT_RAM = 128 * Sizes.MIB;
    public static final int MAX_CPUS = 255;
    static final Set<String> DEVICES = Set.of("virtio-blk-pci", "virtio-rng-pci", "vhost-user-fs-pci", "isa-debug-exit");

    private final Map<String, DrivePlan> drives = new LinkedHashMap<>();
    private final Map<String, SocketChardevSpec> chardevs = new LinkedHashMap<>();
    private final Set<String> ids = new HashSet<>();
    private final Set<String> usedDrives = new HashSet<>();
    private final Set<String> usedChardevs = new HashSet<>();
    private final Map<String, Integer> generated = new LinkedHashMap<>();

    /** The raw option values, as the command line gave them. */
    public record RawOptions(String memory, String smp, Path kernel, Path initrd, String append, boolean noReboot,
                             List<String> objects, List<String> chardevs, List<String> drives, List<String> devices) {
    }

    public static MachineConfig parse(RawOptions raw) {
        return new ConfigParser().build(raw);
    }

    /**
     * Like {@link #parse}, for serving the devices to another VMM (--vfio-user-socket): no guest
     * is booted, so -kernel is not required (the kernel in the result is then null).
     */
    public static MachineConfig parseDevicesOnly(RawOptions raw) {
        ConfigParser parser = new ConfigParser();
        parser.kernelRequired = false;
        return parser.build(raw);
    }

    private boolean kernelRequired = true;

    private MachineConfig build(RawOptions raw) {
        Long ram = raw.memory() == null ? null : parseMemory(raw.memory());
        for (String text : raw.objects()) {
            long backendSize = parseMemoryBackend(text);
            if (ram != null && ram != backendSize) {
                throw new UserError("-object " + text + ": size " + Sizes.format(backendSize)
                        + " differs from -m " + Sizes.format(ram) + "; give the same size to both");
            }
            ram = backendSize;
        }
        int cpus = parseSmp(raw.smp());
        if (raw.kernel() == null && kernelRequired) {
            throw new UserError("no -kernel given: name a Linux bzImage or a 64-bit ELF guest");
        }
        if (raw.kernel() != null) {
            requireReadable("-kernel", raw.kernel());
        }
        if (raw.initrd() != null) {
            requireReadable("-initrd", raw.initrd());
        }
        for (String text : raw.chardevs()) {
            SocketChardevSpec spec = parseChardev(text);
            if (chardevs.put(spec.id(), spec) != null) {
                throw new UserError("-chardev id '" + spec.id() + "' is used twice");
            }
        }
        for (String text : raw.drives()) {
            DrivePlan drive = DrivePlan.parse(text);
            if (drives.put(drive.id(), drive) != null) {
                throw new UserError("-drive id '" + drive.id() + "' is used twice");
            }
        }
        List<DevicePlan> devices = new ArrayList<>();
        for (String text : raw.devices()) {
            devices.add(parseDevice(text));
        }
        for (String drive : drives.keySet()) {
            if (!usedDrives.contains(drive)) {
                throw new UserError("-drive " + drive + " is not used by any device; add -device virtio-blk-pci,drive=" + drive);
            }
        }
        return new MachineConfig(ram == null ? DEFAULT_RAM : ram, cpus, raw.kernel(), raw.initrd(),
                raw.append() == null ? "" : raw.append(), raw.noReboot(), Map.copyOf(drives), Map.copyOf(chardevs), List.copyOf(devices));
    }

    private static long parseMemory(String text) {
        String value = text.startsWith("size=") ? text.substring(5) : text;
        long bytes = Sizes.parse("-m", value, Sizes.MIB);
        if (bytes < 16 * Sizes.MIB) {
            throw new UserError("-m " + text + ": at least 16 MiB of RAM is needed");
        }
        if (bytes % (2 * Sizes.MIB) != 0) {
            throw new UserError("-m " + text + ": RAM size must be a multiple of 2 MiB");
        }
        return bytes;
    }

    private long parseMemoryBackend(String text) {
        OptionList o = OptionList.parse("-object", text, "qom-type");
        if (!o.head().equals("memory-backend-memfd")) {
            throw new UserError("-object " + o.head() + ": unknown object type (supported: memory-backend-memfd)");
        }
        claimId(o, o.required("id"));
        long size = parseMemory(o.required("size"));
        if (!o.bool("share", false)) {
            throw new UserError("-object memory-backend-memfd: share=on is required (guest RAM is always shared memory in jvmm, "
                    + "so back-ends in other processes can map it)");
        }
        o.finish(Set.of("id", "size", "share"));
        return size;
    }

    private static int parseSmp(String text) {
        if (text == null) {
            return 1;
        }
        String value = text.startsWith("cpus=") ? text.substring(5) : text;
        try {
            int n = Integer.parseInt(value);
            if (n < 1 || n > MAX_CPUS) {
                throw new UserError("-smp " + text + ": the number of vCPUs must be 1 to " + MAX_CPUS);
            }
            return n;
        } catch (NumberFormatException e) {
            throw new UserError("-smp " + text + ": not a number of vCPUs");
        }
    }

    private static void requireReadable(String option, Path file) {
        if (!Files.isRegularFile(file)) {
            throw new UserError(option + " " + file + ": no such file");
        }
        if (!Files.isReadable(file)) {
            throw new UserError(option + " " + file + ": not readable (check its permissions)");
        }
    }

    private static SocketChardevSpec parseChardev(String text) {
        OptionList o = OptionList.parse("-chardev", text, "backend");
        if (!o.head().equals("socket")) {
            throw new UserError("-chardev " + o.head() + ": unknown backend (supported: socket)");
        }
        try {
            return SocketChardevSpec.parse(text);
        } catch (IllegalArgumentException e) {
            throw new UserError("-chardev " + text + ": " + e.getMessage());
        }
    }

    private DevicePlan parseDevice(String text) {
        OptionList o = OptionList.parse("-device", text, "driver");
        String driver = o.head();
        if (!DEVICES.contains(driver)) {
            throw new UserError("-device " + driver + ": unknown device (supported: " + String.join(", ", new java.util.TreeSet<>(DEVICES)) + ")");
        }
        String id = o.string("id", null);
        id = id == null ? generateId(driver) : id;
        claimId(o, id);
        DevicePlan plan;
        switch (driver) {
            case "virtio-blk-pci": {
                String driveId = o.required("drive");
                DrivePlan drive = drives.get(driveId);
                if (drive == null) {
                    throw new UserError("-device virtio-blk-pci: drive '" + driveId + "' is not defined by any -drive id=" + driveId);
                }
                if (!usedDrives.add(driveId)) {
                    throw new UserError("-device virtio-blk-pci: drive '" + driveId + "' is already used by another device");
                }
                long queueSize = o.number("queue-size", 256);
                if (queueSize < 4 || queueSize > 1024 || Long.bitCount(queueSize) != 1) {
                    throw new UserError("-device virtio-blk-pci: queue-size " + queueSize + " must be a power of two from 4 to 1024");
                }
                String serial = o.string("serial", null);
                if (serial != null && serial.length() > 20) {
                    throw new UserError("-device virtio-blk-pci: serial '" + serial + "' is longer than 20 characters");
                }
                plan = new DevicePlan.VirtioBlk(id, drive, serial, (int) queueSize);
                o.finish(Set.of("id", "drive", "queue-size", "serial"));
                break;
            }
            case "virtio-rng-pci":
                plan = new DevicePlan.VirtioRng(id);
                o.finish(Set.of("id"));
                break;
            case "vhost-user-fs-pci": {
                String chardevId = o.required("chardev");
                SocketChardevSpec chardev = chardevs.get(chardevId);
                if (chardev == null) {
                    throw new UserError("-device vhost-user-fs-pci: chardev '" + chardevId + "' is not defined by any -chardev socket,id=" + chardevId);
                }
                if (!usedChardevs.add(chardevId)) {
                    throw new UserError("-device vhost-user-fs-pci: chardev '" + chardevId + "' is already used by another device");
                }
                String tag = o.required("tag");
                long requestQueues = o.number("num-request-queues", 1);
                long queueSize = o.number("queue-size", 128);
                boolean sync = o.bool("x-sync-vring", true);
                try {
                    new io.jvmm.devices.fs.VhostUserFsOptions(id, chardev, tag, (int) requestQueues, (int) queueSize, sync);
                } catch (IllegalArgumentException e) {
                    throw new UserError("-device " + e.getMessage());
                }
                plan = new DevicePlan.VhostUserFs(id, chardev, tag, (int) requestQueues, (int) queueSize, sync);
                o.finish(Set.of("id", "chardev", "tag", "num-request-queues", "queue-size", "x-sync-vring"));
                break;
            }
            case "isa-debug-exit": {
                long iobase = o.number("iobase", 0x501);
                long iosize = o.number("iosize", 2);
                if (iobase < 0 || iobase > 0xffff || iosize < 1 || iosize > 4 || iobase + iosize > 0x10000) {
                    throw new UserError("-device isa-debug-exit: iobase=0x" + Long.toHexString(iobase) + ",iosize=" + iosize
                            + " is not a valid port range (iosize 1 to 4 within 0..0xffff)");
                }
                plan = new DevicePlan.DebugExit(id, (int) iobase, (int) iosize);
                o.finish(Set.of("id", "iobase", "iosize"));
                break;
            }
            default:
                throw new IllegalStateException(driver);
        }
        return plan;
    }

    private String generateId(String driver) {
        String base = driver.replace("virtio-", "").replace("-pci", "").replace("isa-", "");
        int n = generated.merge(base, 1, Integer::sum) - 1;
        String id = base + n;
        while (ids.contains(id)) {
            n = generated.merge(base, 1, Integer::sum) - 1;
            id = base + n;
        }
        return id;
    }

    private void claimId(OptionList o, String id) {
        if (!ids.add(id)) {
            throw new UserError(o.where() + ": id '" + id + "' is already used");
        }
    }
}
