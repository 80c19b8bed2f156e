package io.jvmm.emulator.machine;

import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.BarKind;
import io.jvmm.pci.ConfigRegisters;
import io.jvmm.pci.PciBus;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The VMM plays firmware, as Firecracker and Cloud Hypervisor do: before the guest starts it
 * gives every BAR an address (naturally aligned, largest first within each window) and turns on
 * decoding and bus mastering, so a guest may use the devices as found or reassign them.
 */
public final class PciFirmware {
    private static final Logger log = LoggerFactory.getLogger(PciFirmware.class);
    static final long IO_START = 0xc000;
    static final long IO_END = 0x10000;

    private final long mmio32Start;
    private final long mmio32End;
    private final long mmio64Start;
    private final long mmio64End;

    public PciFirmware(long mmio32Start, long mmio32End, long mmio64Start, long mmio64End) {
        this.mmio32Start = mmio32Start;
        this.mmio32End = mmio32End;
        this.mmio64Start = mmio64Start;
        this.mmio64End = mmio64End;
    }

    private record Request(PciDevice device, int index, BarDefinition bar) {
    }

    /** Assigns every BAR of every device on the bus (the host bridge has none) and enables decoding. */
    public void assign(PciBus bus) {
        List<Request> requests = new ArrayList<>();
        for (PciDevice device : bus.devices()) {
            for (int i = 0; i < ConfigRegisters.BAR_COUNT; i++) {
                Optional<BarDefinition> bar = device.bar(i);
                if (bar.isPresent()) {
                    requests.add(new Request(device, i, bar.get()));
                }
            }
        }
        requests.sort(Comparator.comparingLong((Request r) -> r.bar().size()).reversed());
        long io = IO_START;
        long mem32 = mmio32Start;
        long mem64 = mmio64Start;
        for (Request r : requests) {
            long size = r.bar().size();
            long address;
            switch (r.bar().kind()) {
                case IO:
                    address = align(io, size);
                    io = checkFits(r, address, IO_END, "I/O port window");
                    break;
                case MEM32:
                    address = align(mem32, size);
                    mem32 = checkFits(r, address, mmio32End, "32-bit MMIO window");
                    break;
                default:
                    address = align(mem64, size);
                    mem64 = checkFits(r, address, mmio64End, "64-bit MMIO window");
            }
            program(r, address);
        }
        for (PciDevice device : bus.devices()) {
            boolean hasIo = false;
            boolean hasMem = false;
            for (int i = 0; i < ConfigRegisters.BAR_COUNT; i++) {
                Optional<BarDefinition> bar = device.bar(i);
                hasIo |= bar.map(b -> b.kind() == BarKind.IO).orElse(false);
                hasMem |= bar.map(b -> b.kind() != BarKind.IO).orElse(false);
            }
            int command = device.configRead(ConfigRegisters.COMMAND, 2)
                    | (hasIo ? ConfigRegisters.COMMAND_IO : 0)
                    | (hasMem ? ConfigRegisters.COMMAND_MEMORY : 0)
                    | ConfigRegisters.COMMAND_BUS_MASTER;
            await(device.configWrite(ConfigRegisters.COMMAND, 2, command), device);
        }
    }

    private long checkFits(Request r, long address, long end, String window) {
        long next = address + r.bar().size();
        if (next > end || next < address) {
            throw new IllegalStateException(String.format("%s BAR%d (%d bytes) does not fit in the %s", r.device().id(),
                    r.index(), r.bar().size(), window));
        }
        return next;
    }

    private void program(Request r, long address) {
        int reg = ConfigRegisters.bar(r.index());
        await(r.device().configWrite(reg, 4, (int) address), r.device());
        if (r.bar().kind() == BarKind.MEM64) {
            await(r.device().configWrite(reg + 4, 4, (int) (address >>> 32)), r.device());
        }
        log.debug("firmware: {} BAR{} -> 0x{} ({} bytes)", r.device().id(), r.index(), Long.toHexString(address), r.bar().size());
    }

    private static void await(java.util.concurrent.CompletableFuture<Void> f, PciDevice device) {
        IoCompletion.await(f, Duration.ofSeconds(30), "firmware configuration of " + device.id());
    }

    private static long align(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }
}
