package io.jvmm.monitor.qmp;

import static io.jvmm.pci.ConfigRegisters.CLASS_CODE;
import static io.jvmm.pci.ConfigRegisters.DEVICE_ID;
import static io.jvmm.pci.ConfigRegisters.INTERRUPT_LINE;
import static io.jvmm.pci.ConfigRegisters.INTERRUPT_PIN;
import static io.jvmm.pci.ConfigRegisters.SUBSYSTEM_ID;
import static io.jvmm.pci.ConfigRegisters.SUBSYSTEM_VENDOR_ID;
import static io.jvmm.pci.ConfigRegisters.VENDOR_ID;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jvmm.monitor.PciSlot;
import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.BarKind;
import io.jvmm.pci.ConfigRegisters;
import io.jvmm.pci.ConfigSpace;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.PciHostBridge;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * A machine's PCI functions as QEMU shows them: {@code query-pci} (QAPI's PciInfo, PciDeviceInfo,
 * PciMemoryRegion) and the text of {@code info pci}, from what each function's configuration
 * space and BARs say.
 */
final class PciView {
    private PciView() {
    }

    /** What QEMU calls a function without an id ({@code qdev_id} ""): the host bridge. */
    static String qdevId(PciDevice device) {
        return device instanceof PciHostBridge ? "" : device.id();
    }

    /** {@code query-pci}: one entry per bus, each with its devices. */
    static ArrayNode queryPci(List<PciSlot> slots) {
        Map<Integer, ArrayNode> byBus = new TreeMap<>();
        for (PciSlot s : slots) {
            byBus.computeIfAbsent(s.bus(), b -> QmpJson.NODES.arrayNode()).add(deviceInfo(s));
        }
        ArrayNode buses = QmpJson.NODES.arrayNode();
        byBus.forEach((bus, devices) -> {
            ObjectNode info = buses.addObject();
            info.put("bus", bus);
            info.set("devices", devices);
        });
        return buses;
    }

    private static ObjectNode deviceInfo(PciSlot s) {
        ConfigSpace c = s.device().config();
        ObjectNode d = QmpJson.object();
        d.put("bus", s.bus());
        d.put("slot", s.slot());
        d.put("function", s.function());
        ObjectNode classInfo = d.putObject("class_info");
        int cls = classAndSubclass(c);
        PciClassNames.of(cls).ifPresent(desc -> classInfo.put("desc", desc));
        classInfo.put("class", cls);
        ObjectNode id = d.putObject("id");
        id.put("device", c.get16(DEVICE_ID));
        id.put("vendor", c.get16(VENDOR_ID));
        id.put("subsystem", c.get16(SUBSYSTEM_ID));
        id.put("subsystem-vendor", c.get16(SUBSYSTEM_VENDOR_ID));
        int pin = c.get8(INTERRUPT_PIN);
        if (pin != 0) {
            d.put("irq", c.get8(INTERRUPT_LINE));
        }
        d.put("irq_pin", pin);
        d.put("qdev_id", qdevId(s.device()));
        ArrayNode regions = d.putArray("regions");
        for (int i = 0; i < ConfigRegisters.BAR_COUNT; i++) {
            Optional<BarDefinition> bar = s.device().bar(i);
            if (bar.isEmpty()) {
                continue;
            }
            ObjectNode r = regions.addObject();
            r.put("bar", i);
            r.put("type", bar.get().kind() == BarKind.IO ? "io" : "memory");
            r.put("address", s.device().barAddress(i));
            r.put("size", bar.get().size());
            if (bar.get().kind() != BarKind.IO) {
                r.put("prefetch", bar.get().prefetchable());
                r.put("mem_type_64", bar.get().kind() == BarKind.MEM64);
            }
        }
        return d;
    }

    /** {@code info pci}, in QEMU's layout (CRLF line ends, as its monitor writes them). */
    static String infoPci(List<PciSlot> slots) {
        StringBuilder out = new StringBuilder();
        for (PciSlot s : slots) {
            ConfigSpace c = s.device().config();
            out.append(String.format("  Bus %2d, device %3d, function %d:\r\n", s.bus(), s.slot(), s.function()));
            int cls = classAndSubclass(c);
            out.append("    ").append(PciClassNames.of(cls).orElse(String.format("Class %04d", cls)));
            out.append(String.format(": PCI device %04x:%04x\r\n", c.get16(VENDOR_ID), c.get16(DEVICE_ID)));
            out.append(String.format("      PCI subsystem %04x:%04x\r\n", c.get16(SUBSYSTEM_VENDOR_ID), c.get16(SUBSYSTEM_ID)));
            int pin = c.get8(INTERRUPT_PIN);
            if (pin != 0) {
                out.append(String.format("      IRQ %d, pin %c\r\n", c.get8(INTERRUPT_LINE), 'A' + pin - 1));
            }
            for (int i = 0; i < ConfigRegisters.BAR_COUNT; i++) {
                Optional<BarDefinition> bar = s.device().bar(i);
                if (bar.isEmpty()) {
                    continue;
                }
                String digits = bar.get().kind() == BarKind.IO ? "4" : "8";
                long address = s.device().barAddress(i);   // -1 while unassigned, as QEMU prints it
                out.append(String.format("      BAR%d: %s at 0x%0" + digits + "x [0x%0" + digits + "x].\r\n",
                        i, describe(bar.get()), address, address + bar.get().size() - 1));
            }
            out.append("      id \"").append(qdevId(s.device())).append("\"\r\n");
        }
        return out.toString();
    }

    static String describe(BarDefinition bar) {
        return switch (bar.kind()) {
            case IO -> "I/O";
            case MEM32 -> "32 bit " + (bar.prefetchable() ? "prefetchable " : "") + "memory";
            case MEM64 -> "64 bit " + (bar.prefetchable() ? "prefetchable " : "") + "memory";
        };
    }

    static int classAndSubclass(ConfigSpace c) {
        return c.get16(CLASS_CODE + 1);
    }
}
