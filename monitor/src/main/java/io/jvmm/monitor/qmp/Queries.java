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

    /** One BlockInfo per {@code -drive}, with the device that uses it. */
    Result queryBlock(Arguments a) {
        ArrayNode list = QmpJson.NODES.arrayNode();
        List<BackendConfig<?>> drives = context.machine().backends(BackendKind.DRIVE);
        for (int i = 0; i < drives.size(); i++) {
            list.add(blockInfo(drives.get(i), i));
        }
        return Result.of(list);
    }

    private ObjectNode blockInfo(BackendConfig<?> drive, int index) {
        ObjectNode info = QmpJson.object();
        info.put("device", drive.id());
        user(drive.options()).ifPresent(d -> info.put("qdev", d.driver().startsWith("virtio-") ? d.path() + "/virtio-backend" : d.path()));
        info.put("type", "unknown");
        info.put("removable", false);
        info.put("locked", false);
        info.put("io-status", "ok");
        String file = String.valueOf(drive.value("file").orElse(""));
        String format = String.valueOf(drive.value("format").orElse("raw"));
        boolean readOnly = Boolean.TRUE.equals(drive.value("readonly").orElse(false));
        ObjectNode inserted = info.putObject("inserted");
        inserted.put("file", file);
        inserted.put("node-name", "#block" + (100 + index));
        inserted.put("ro", readOnly);
        inserted.put("drv", format);
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
        image.put("format", format);
        Path path = Path.of(file);
        try {
            image.put("virtual-size", Files.size(path));
        } catch (IOException e) {
            image.put("virtual-size", 0);
        }
        allocatedBytes(path).ifPresent(bytes -> image.put("actual-size", bytes));
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
