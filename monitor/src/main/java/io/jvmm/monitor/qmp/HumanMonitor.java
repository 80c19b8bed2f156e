package io.jvmm.monitor.qmp;

import io.jvmm.monitor.MonitoredDevice;
import io.jvmm.monitor.PciSlot;
import io.jvmm.monitor.RunState;
import io.jvmm.monitor.qmp.QmpCommand.Result;
import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.BarKind;
import io.jvmm.pci.ConfigRegisters;
import io.jvmm.pci.ConfigSpace;
import io.jvmm.pci.PciDevice;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.registry.BackendOptions;
import io.jvmm.platform.registry.Property;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * {@code human-monitor-command}: the few HMP commands jvmm has, with QEMU's text ({@code info
 * status}, {@code info pci}, {@code info qtree}); anything else is QEMU's "unknown command" line
 * (HMP reports its errors in the text, not as QMP errors).
 */
final class HumanMonitor {
    private static final Map<String, String> INFO = new LinkedHashMap<>();

    static {
        INFO.put("pci", "show PCI info");
        INFO.put("qtree", "show device tree");
        INFO.put("status", "show the current VM status (running|paused)");
    }

    private final QmpContext context;
    private final Qom qom;

    HumanMonitor(QmpContext context, Qom qom) {
        this.context = context;
        this.qom = qom;
    }

    Result run(Arguments a) {
        String line = a.string("command-line").trim();
        return Result.of(QmpJson.NODES.textNode(execute(line)));
    }

    String execute(String line) {
        String[] words = line.split("\\s+");
        if (words[0].equals("info") && words.length == 1) {
            return infoHelp();
        }
        if (words[0].equals("help") || words[0].equals("?")) {
            return "info [subcommand] -- show various information about the system state\r\n";
        }
        if (words[0].equals("info") && words.length == 2) {
            switch (words[1]) {
                case "status":
                    return status(context.machine().runState());
                case "pci":
                    return PciView.infoPci(context.machine().pciSlots());
                case "qtree":
                    return qtree();
                default:
                    break;
            }
        }
        return "unknown command: '" + line + "'\r\n";
    }

    private static String infoHelp() {
        StringBuilder out = new StringBuilder();
        INFO.forEach((name, help) -> out.append("info ").append(name).append("  -- ").append(help).append("\r\n"));
        return out.toString();
    }

    static String status(RunState state) {
        return switch (state) {
            case RUNNING -> "VM status: running\r\n";
            case PAUSED -> "VM status: paused\r\n";
            default -> "VM status: paused (" + state.qapiName() + ")\r\n";
        };
    }

    /** QEMU's device tree: the system bus, the PCI bus with each function, the ISA devices. */
    private String qtree() {
        StringBuilder out = new StringBuilder("bus: main-system-bus\r\n  type System\r\n");
        out.append("  dev: jvmm-").append(context.machine().kind()).append("-pcihost, id \"\"\r\n");
        out.append("    bus: ").append(QmpContext.PCI_BUS).append("\r\n      type PCI\r\n");
        for (PciSlot s : context.machine().pciSlots()) {
            if (PciView.qdevId(s.device()).isEmpty()) {
                continue;   // the host bridge is the bus's own
            }
            Optional<MonitoredDevice> d = qom.find(s.device().id());
            out.append("      dev: ").append(d.map(MonitoredDevice::driver).orElse(s.device().getClass().getSimpleName()))
                    .append(", id \"").append(s.device().id()).append("\"\r\n");
            d.ifPresent(m -> properties(out, m, "        "));
            out.append(String.format("        addr = %02x.%x\r\n", s.slot(), s.function()));
            pciLines(out, s);
        }
        boolean isa = false;
        for (MonitoredDevice d : context.machine().monitoredDevices()) {
            if (d.device() instanceof BuiltDevice.Ports) {
                if (!isa) {
                    out.append("  dev: jvmm-isa-bridge, id \"\"\r\n    bus: isa.0\r\n      type ISA\r\n");
                    isa = true;
                }
                out.append("      dev: ").append(d.driver()).append(", id \"").append(d.id()).append("\"\r\n");
                properties(out, d, "        ");
            }
        }
        return out.toString();
    }

    private void properties(StringBuilder out, MonitoredDevice d, String indent) {
        qom.values(d).forEach((p, v) -> out.append(indent).append(p.name()).append(" = ").append(format(p, v)).append("\r\n"));
    }

    private static String format(Property<?> p, Object v) {
        if (v instanceof BackendOptions b) {
            return "\"" + b.id() + "\"";
        }
        if (v == null) {
            return p.typeName().equals("bool") ? "false" : p.typeName().equals("str") || p.isBackendReference() ? "\"\"" : "0 (0x0)";
        }
        if (v instanceof Boolean b) {
            return b ? "true" : "false";
        }
        if (v instanceof Number n) {
            return n.longValue() + " (0x" + Long.toHexString(n.longValue()) + ")";
        }
        return "\"" + v + "\"";
    }

    private static void pciLines(StringBuilder out, PciSlot s) {
        PciDevice device = s.device();
        ConfigSpace c = device.config();
        int cls = PciView.classAndSubclass(c);
        out.append(String.format("        class %s, addr %02x:%02x.%x, pci id %04x:%04x (sub %04x:%04x)\r\n",
                PciClassNames.of(cls).orElse(String.format("Class %04x", cls)), s.bus(), s.slot(), s.function(),
                c.get16(ConfigRegisters.VENDOR_ID), c.get16(ConfigRegisters.DEVICE_ID),
                c.get16(ConfigRegisters.SUBSYSTEM_VENDOR_ID), c.get16(ConfigRegisters.SUBSYSTEM_ID)));
        for (int i = 0; i < ConfigRegisters.BAR_COUNT; i++) {
            Optional<BarDefinition> bar = device.bar(i);
            if (bar.isPresent()) {
                long address = device.barAddress(i);
                out.append(String.format("        bar %d: %s at 0x%x [0x%x]\r\n", i, bar.get().kind() == BarKind.IO ? "i/o" : "mem",
                        address, address + bar.get().size() - 1));
            }
        }
    }
}
