package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jvmm.monitor.MonitoredDevice;
import io.jvmm.monitor.qmp.QmpCommand.Result;
import io.jvmm.platform.backends.ChardevOptions;
import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.BackendOptions;
import io.jvmm.platform.registry.Property;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;

/** {@code query-version}, {@code query-commands}, {@code query-pci}, {@code query-block}, {@code query-chardev}. */
final class Queries {
    /** jvmm's version, reported where QEMU reports its own (clients compare it with QEMU's numbers). */
    static final int MAJOR = 0;
    static final int MINOR = 1;
    static final int MICRO = 0;
    static final String PACKAGE = "jvmm " + MAJOR + "." + MINOR + "." + MICRO;

    private final QmpContext context;
    private final Supplier<List<String>> commandNames;

    Queries(QmpContext context, Supplier<List<String>> commandNames) {
        this.context = context;
        this.commandNames = commandNames;
    }

    /** {@code {"qemu": {"major", "minor", "micro"}, "package"}}: also the greeting's version. */
    static ObjectNode version() {
        ObjectNode v = QmpJson.object();
        ObjectNode numbers = v.putObject("qemu");
        numbers.put("micro", MICRO);
        numbers.put("minor", MINOR);
        numbers.put("major", MAJOR);
        v.put("package", PACKAGE);
        return v;
    }

    Result queryVersion(Arguments a) {
        return Result.of(version());
    }

    Result queryCommands(Arguments a) {
        ArrayNode list = QmpJson.NODES.arrayNode();
        for (String name : commandNames.get()) {
            list.addObject().put("name", name);
        }
        return Result.of(list);
    }

    Result queryPci(Arguments a) {
        return Result.of(PciView.queryPci(context.machine().pciSlots()));
    }

    /**
     * One BlockInfo per {@code -drive} (its id as {@code device}), then one per {@code -blockdev}
     * node a device uses ({@code device} empty, the node's name as {@code node-name}), as QEMU
     * lists its block backends; {@code drv} is the node's driver (raw, file, qcow2, nbd).
     */
    Result queryBlock(Arguments a) {
        ArrayNode list = QmpJson.NODES.arrayNode();
        List<BackendConfig<?>> drives = context.machine().backends(BackendKind.DRIVE);
        for (int i = 0; i < drives.size(); i++) {
            BackendConfig<?> drive = drives.get(i);
            String format = String.valueOf(drive.value("format").orElse("raw"));
            list.add(blockInfo(drive.id(), "#block" + (100 + i), drive, format, String.valueOf(drive.value("file").orElse("")),
                    Boolean.TRUE.equals(drive.value("readonly").orElse(false))));
        }
        for (BackendConfig<?> node : context.machine().backends(BackendKind.BLOCKDEV)) {
            if (user(node.options()).isEmpty()) {
                continue;   // QEMU lists the nodes attached to a device (query-named-block-nodes would list the others)
            }
            String driver = node.type().name();
            list.add(blockInfo("", node.id(), node, driver, blockdevFilename(node),
                    Boolean.TRUE.equals(node.value("read-only").orElse(false))));
        }
        return Result.of(list);
    }

    /** What QEMU calls a node's filename: the image file, or the NBD export's URI. */
    private static String blockdevFilename(BackendConfig<?> node) {
        if (node.type().name().equals("nbd")) {
            String export = String.valueOf(node.value("export").orElse(""));
            if ("unix".equals(node.value("server.type").orElse(null))) {
                return "nbd+unix:///" + export + "?socket=" + node.value("server.path").orElse("");
            }
            return "nbd://" + node.value("server.host").orElse("") + ":" + node.value("server.port").orElse(10809) + "/" + export;
        }
        return String.valueOf(node.value("filename").or(() -> node.value("file.filename")).orElse(""));
    }

    private ObjectNode blockInfo(String device, String nodeName, BackendConfig<?> backend, String driver, String file, boolean readOnly) {
        ObjectNode info = QmpJson.object();
        info.put("device", device);
        user(backend.options()).ifPresent(d -> info.put("qdev", d.driver().startsWith("virtio-") ? d.path() + "/virtio-backend" : d.path()));
        info.put("type", "unknown");
        info.put("removable", false);
        info.put("locked", false);
        info.put("io-status", "ok");
        ObjectNode inserted = info.putObject("inserted");
        inserted.put("file", file);
        inserted.put("node-name", nodeName);
        inserted.put("ro", readOnly);
        inserted.put("drv", driver);
        inserted.put("backing_file_depth", 0);
        inserted.put("encrypted", false);
        inserted.put("detect_zeroes", "off");
        for (String limit : List.of("bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr")) {
            inserted.put(limit, 0);
        }
        inserted.put("write_threshold", 0);
        ObjectNode cache = inserted.putObject("cache");
        cache.put("writeback", true);
        cache.put("direct", false);
        cache.put("no-flush", false);
        ObjectNode image = inserted.putObject("image");
        image.put("filename", file);
        image.put("format", driver);
        if (driver.equals("nbd")) {
            image.put("virtual-size", 0);   // known to the device that opened it, not to the monitor
        } else {
            Path path = Path.of(file);
            Optional<Qcow2Summary> qcow2 = driver.equals("qcow2") ? Qcow2Summary.read(path) : Optional.empty();
            if (qcow2.isPresent()) {
                image.put("virtual-size", qcow2.get().virtualSize());
                image.put("cluster-size", qcow2.get().clusterSize());
            } else {
                try {
                    image.put("virtual-size", Files.size(path));
                } catch (IOException e) {
                    image.put("virtual-size", 0);
                }
            }
            allocatedBytes(path).ifPresent(bytes -> image.put("actual-size", bytes));
            qcow2.ifPresent(q -> q.formatSpecific(image.putObject("format-specific")));
        }
        image.put("dirty-flag", false);
        return info;
    }

    private static Optional<Long> allocatedBytes(Path file) {
        try {
            var stat = jnr.posix.POSIXFactory.getNativePOSIX().allocateStat();
            if (jnr.posix.POSIXFactory.getNativePOSIX().stat(file.toString(), stat) != 0) {
                return Optional.empty();
            }
            return Optional.of(stat.blocks() * 512);
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    /** One ChardevInfo per {@code -chardev}, and the monitor's own socket (QEMU's "compat_monitor0"). */
    Result queryChardev(Arguments a) {
        ArrayNode list = QmpJson.NODES.arrayNode();
        for (BackendConfig<?> b : context.machine().backends(BackendKind.CHARDEV)) {
            boolean used = user(b.options()).isPresent();
            String filename = b.options() instanceof ChardevOptions c
                    ? "unix:" + c.socket().path() + (c.socket().server() ? ",server=on" : "")
                    : b.type().name();
            ObjectNode info = list.addObject();
            info.put("frontend-open", used);
            info.put("filename", (used ? "" : "disconnected:") + filename);
            info.put("label", b.id());
        }
        ObjectNode monitor = list.addObject();
        monitor.put("frontend-open", true);
        monitor.put("filename", context.monitorFilename().get());
        monitor.put("label", "compat_monitor0");
        return Result.of(list);
    }

    /** The device whose properties name {@code backend}. */
    private Optional<MonitoredDevice> user(BackendOptions backend) {
        for (MonitoredDevice d : context.machine().monitoredDevices()) {
            for (Property<?> p : d.config().type().properties()) {
                if (p.isBackendReference() && d.config().value(p) == backend) {
                    return Optional.of(d);
                }
            }
        }
        return Optional.empty();
    }
}
