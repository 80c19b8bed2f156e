package io.jvmm.emulator.kvm;

import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Fds;
import io.jvmm.chardev.NativeException;
import io.jvmm.chardev.nativ.LibC;
import io.jvmm.chardev.nativ.Native;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.mem.MemoryRegion;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A KVM virtual machine: memory slots, the in-kernel irqchip (PIC, IOAPIC, local APICs) and PIT,
 * interrupt routing, irqfds, ioeventfds and vCPUs.
 *
 * <p>Interrupts follow the production-VMM pattern: each MSI vector is a GSI with an MSI route
 * ({@link #setMsiRoute}) fed by an irqfd ({@link #attachIrqfd}), so a back-end signals the guest
 * without passing through any Java thread; queue notifications are ioeventfds
 * ({@link #addIoEventFd}) that count guest writes without an exit.
 *
 * <p>Thread-safe: configuration calls are serialised on this object; {@link #signalMsi} and
 * {@link #setIrqLine} only issue one ioctl and may come from any thread.
 */
public final class KvmVm implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(KvmVm.class);
    private static final LibC LIBC = Native.libc();

    private static final int IRQFD_SIZE = 32;
    private static final int IRQFD_FLAG_DEASSIGN = 1;
    private static final int IOEVENTFD_SIZE = 64;
    private static final int IOEVENTFD_FLAG_DATAMATCH = 1;
    private static final int IOEVENTFD_FLAG_PIO = 2;
    private static final int IOEVENTFD_FLAG_DEASSIGN = 4;
    private static final int MSI_SIZE = 32;
    private static final int MEMORY_REGION_SIZE = 32;
    private static final int PIT_CONFIG_SIZE = 64;
    private static final int PIT_SPEAKER_DUMMY = 1;

    private final Kvm kvm;
    private final int fd;
    private final GsiRouting routing = new GsiRouting();
    /** Memory slots by the region they map (identity of the region record, i.e. base and mapping). */
    private final Map<MemoryRegion, Integer> slots = new LinkedHashMap<>();
    private final List<KvmVcpu> vcpus = new ArrayList<>();
    private final int maxMemorySlots;
    private final int maxVcpus;
    private volatile boolean irqchip;
    private volatile boolean closed;

    KvmVm(Kvm kvm, int fd) {
        this.kvm = kvm;
        this.fd = fd;
        int slotsCap = kvm.capabilityValue(KvmCapability.NR_MEMSLOTS.number());
        this.maxMemorySlots = slotsCap > 0 ? slotsCap : 32;   // 32 is the KVM API's documented minimum
        int max = kvm.capabilityValue(KvmCapability.MAX_VCPUS.number());
        int recommended = kvm.capabilityValue(KvmCapability.NR_VCPUS.number());
        this.maxVcpus = max > 0 ? max : (recommended > 0 ? recommended : 4);
        log.debug("created VM fd {} ({} memory slots, up to {} vCPUs)", fd, maxMemorySlots, maxVcpus);
    }

    /** The largest vCPU count KVM accepts for this VM. */
    public int maxVcpus() {
        return maxVcpus;
    }

    // ---- machine set-up ----------------------------------------------------------------

    /** KVM_SET_TSS_ADDR: three pages of guest-physical space KVM may use on Intel (below 4 GiB, not RAM). */
    public synchronized void setTssAddress(long address) {
        requireBelow4G("TSS address", address);
        check(LIBC.ioctl(fd(), KvmIoctl.SET_TSS_ADDR, address), "KVM_SET_TSS_ADDR(0x" + Long.toHexString(address) + ")");
    }

    /** KVM_SET_IDENTITY_MAP_ADDR: one page for Intel's real-mode identity map; before any vCPU exists. */
    public synchronized void setIdentityMapAddress(long address) {
        requireBelow4G("identity map address", address);
        if (!vcpus.isEmpty()) {
            throw new IllegalStateException("KVM_SET_IDENTITY_MAP_ADDR must come before the first vCPU is created");
        }
        NativeStruct s = new NativeStruct(8);
        s.buffer().putLong(0, address);
        ioctl(KvmIoctl.SET_IDENTITY_MAP_ADDR, s, "KVM_SET_IDENTITY_MAP_ADDR(0x" + Long.toHexString(address) + ")");
    }

    /** KVM_CREATE_IRQCHIP: the in-kernel PIC, IOAPIC and local APICs. Before any vCPU exists. */
    public synchronized void createIrqchip() {
        if (irqchip) {
            throw new IllegalStateException("the in-kernel irqchip already exists");
        }
        if (!vcpus.isEmpty()) {
            throw new IllegalStateException("KVM_CREATE_IRQCHIP must come before the first vCPU is created");
        }
        check(LIBC.ioctl(fd(), KvmIoctl.CREATE_IRQCHIP, 0L), "KVM_CREATE_IRQCHIP");
        irqchip = true;
    }

    public synchronized boolean hasIrqchip() {
        return irqchip;
    }

    /** KVM_CREATE_PIT2 with a dummy speaker port. Needs the irqchip. */
    public synchronized void createPit2() {
        requireIrqchip("KVM_CREATE_PIT2");
        NativeStruct s = new NativeStruct(PIT_CONFIG_SIZE);
        s.buffer().putInt(0, PIT_SPEAKER_DUMMY);
        ioctl(KvmIoctl.CREATE_PIT2, s, "KVM_CREATE_PIT2");
    }

    // ---- memory --------------------------------------------------------------------------

    /**
     * Gives the guest every region of memory not mapped yet, one memory slot each, at the host
     * address of its shared mapping (so devices, back-ends and the guest see the same bytes).
     */
    public synchronized void mapMemory(GuestMemory memory) {
        for (MemoryRegion r : memory.regions()) {
            if (!slots.containsKey(r)) {
                mapRegion(r);
            }
        }
    }

    /** Maps one region into a new memory slot; returns the slot number. */
    public synchronized int mapRegion(MemoryRegion region) {
        Objects.requireNonNull(region, "region");
        if (slots.containsKey(region)) {
            throw new IllegalArgumentException("memory region " + region + " is already mapped in slot " + slots.get(region));
        }
        for (MemoryRegion other : slots.keySet()) {
            if (region.base() < other.end() && other.base() < region.end()) {
                throw new IllegalArgumentException("memory region " + region + " overlaps mapped region " + other);
            }
        }
        int slot = freeSlot(region);
        setSlot(slot, region.base(), region.size(), region.memory().address(), region.toString());
        slots.put(region, slot);
        log.debug("memory slot {}: {} at host 0x{}", slot, region, Long.toHexString(region.memory().address()));
        return slot;
    }

    /** Removes a region from the guest's view (its memory slot gets size 0). */
    public synchronized void unmapRegion(MemoryRegion region) {
        Integer slot = slots.get(region);
        if (slot == null) {
            throw new IllegalArgumentException("memory region " + region + " is not mapped");
        }
        setSlot(slot, region.base(), 0, 0, region + " (unmap)");
        slots.remove(region);
    }

    private int freeSlot(MemoryRegion region) {
        for (int slot = 0; slot < maxMemorySlots; slot++) {
            if (!slots.containsValue(slot)) {
                return slot;
            }
        }
        throw new IllegalStateException("cannot map " + region + ": all " + maxMemorySlots + " KVM memory slots are used");
    }

    private void setSlot(int slot, long guestAddress, long size, long hostAddress, String what) {
        NativeStruct s = new NativeStruct(MEMORY_REGION_SIZE);
        ByteBuffer b = s.buffer();
        b.putInt(0, slot);
        b.putInt(4, 0);
        b.putLong(8, guestAddress);
        b.putLong(16, size);
        b.putLong(24, hostAddress);
        ioctl(KvmIoctl.SET_USER_MEMORY_REGION, s, "KVM_SET_USER_MEMORY_REGION(slot " + slot + ", " + what + ")");
    }

    // ---- interrupt routing -----------------------------------------------------------------

    /** Reserves a GSI above the 24 IOAPIC pins for an MSI route. */
    public synchronized int allocateGsi() {
        return routing.allocate();
    }

    /** Frees a GSI from {@link #allocateGsi()}, removing its route from KVM first if it had one. */
    public synchronized void releaseGsi(int gsi) {
        removeRoute(gsi);
        routing.release(gsi);
    }

    /**
     * Routes an allocated GSI to an MSI (address, data), replacing any previous route, and
     * installs the whole table (legacy pins plus every MSI route) with KVM_SET_GSI_ROUTING.
     */
    public synchronized void setMsiRoute(int gsi, long address, int data) {
        requireIrqchip("KVM_SET_GSI_ROUTING");
        GsiRouting.MsiRoute previous = routing.setMsi(gsi, address, data);
        try {
            pushRouting(String.format("GSI %d -> MSI 0x%x/0x%x", gsi, address, data));
        } catch (RuntimeException e) {
            routing.restore(gsi, previous);
            throw e;
        }
    }

    /**
     * Removes the MSI route of an allocated GSI (the GSI stays allocated, an irqfd on it then
     * delivers nothing). Returns whether it had a route.
     */
    public synchronized boolean removeRoute(int gsi) {
        GsiRouting.MsiRoute previous = routing.removeMsi(gsi);
        if (previous == null) {
            return false;
        }
        try {
            pushRouting("remove GSI " + gsi);
        } catch (RuntimeException e) {
            routing.restore(gsi, previous);
            throw e;
        }
        return true;
    }

    private void pushRouting(String change) {
        requireIrqchip("KVM_SET_GSI_ROUTING");
        NativeStruct table = routing.encode();
        ioctl(KvmIoctl.SET_GSI_ROUTING, table, "KVM_SET_GSI_ROUTING(" + routing.entryCount() + " routes: " + change + ")");
    }

    /** KVM_IRQFD: a signal on fd raises GSI gsi (edge). One fd can feed one GSI at a time. */
    public void attachIrqfd(EventFd eventFd, int gsi) {
        irqfd(eventFd, gsi, 0, "KVM_IRQFD");
    }

    /** KVM_IRQFD with DEASSIGN: fd no longer raises gsi; its counter is left for whoever reads it. */
    public void detachIrqfd(EventFd eventFd, int gsi) {
        irqfd(eventFd, gsi, IRQFD_FLAG_DEASSIGN, "KVM_IRQFD(DEASSIGN)");
    }

    private void irqfd(EventFd eventFd, int gsi, int flags, String call) {
        Objects.requireNonNull(eventFd, "eventFd");
        requireGsi(gsi);
        requireIrqchip(call);
        int efd = eventFd.fd();
        NativeStruct s = new NativeStruct(IRQFD_SIZE);
        s.buffer().putInt(0, efd);
        s.buffer().putInt(4, gsi);
        s.buffer().putInt(8, flags);
        ioctl(KvmIoctl.IRQFD, s, call + "(eventfd " + efd + ", GSI " + gsi + ")");
    }

    /** KVM_SIGNAL_MSI: injects one MSI now. Returns false if the guest blocked it (e.g. no APIC accepted it). */
    public boolean signalMsi(long address, int data) {
        requireIrqchip("KVM_SIGNAL_MSI");
        NativeStruct s = new NativeStruct(MSI_SIZE);
        s.buffer().putInt(0, (int) address);
        s.buffer().putInt(4, (int) (address >>> 32));
        s.buffer().putInt(8, data);
        int rc = ioctl(KvmIoctl.SIGNAL_MSI, s, String.format("KVM_SIGNAL_MSI(0x%x, 0x%x)", address, data));
        return rc > 0;
    }

    /** KVM_IRQ_LINE: sets the level of a GSI (a legacy pin like the serial port's IRQ 4). */
    public void setIrqLine(int irq, boolean level) {
        requireIrqchip("KVM_IRQ_LINE");
        requireGsi(irq);
        NativeStruct s = new NativeStruct(8);
        s.buffer().putInt(0, irq);
        s.buffer().putInt(4, level ? 1 : 0);
        ioctl(KvmIoctl.IRQ_LINE, s, "KVM_IRQ_LINE(" + irq + ", " + (level ? 1 : 0) + ")");
    }

    // ---- ioeventfd ---------------------------------------------------------------------------

    /**
     * KVM_IOEVENTFD: a guest write of {@code length} bytes (1, 2, 4, 8; 0 = any length, MMIO)
     * at {@code address} signals fd inside the kernel, with no exit to user space.
     */
    public void addIoEventFd(long address, int length, boolean pio, EventFd eventFd) {
        ioeventfd(address, length, pio, eventFd, null, 0);
    }

    /** As {@link #addIoEventFd(long, int, boolean, EventFd)}, but only writes of exactly datamatch signal. */
    public void addIoEventFd(long address, int length, boolean pio, EventFd eventFd, long datamatch) {
        ioeventfd(address, length, pio, eventFd, datamatch, 0);
    }

    /** Removes an ioeventfd registered without datamatch. */
    public void removeIoEventFd(long address, int length, boolean pio, EventFd eventFd) {
        ioeventfd(address, length, pio, eventFd, null, IOEVENTFD_FLAG_DEASSIGN);
    }

    /** Removes an ioeventfd registered with this datamatch. */
    public void removeIoEventFd(long address, int length, boolean pio, EventFd eventFd, long datamatch) {
        ioeventfd(address, length, pio, eventFd, datamatch, IOEVENTFD_FLAG_DEASSIGN);
    }

    private void ioeventfd(long address, int length, boolean pio, EventFd eventFd, Long datamatch, int extraFlags) {
        Objects.requireNonNull(eventFd, "eventFd");
        String where = (pio ? "port 0x" : "MMIO 0x") + Long.toHexString(address) + "/" + length;
        if (length != 0 && length != 1 && length != 2 && length != 4 && length != 8) {
            throw new IllegalArgumentException("ioeventfd at " + where + ": length must be 1, 2, 4, 8 or 0 (any), got " + length);
        }
        if (length == 0 && datamatch != null) {
            throw new IllegalArgumentException("ioeventfd at " + where + ": datamatch needs a length");
        }
        if (pio && (address < 0 || address + Math.max(length, 1) > 0x10000)) {
            throw new IllegalArgumentException("ioeventfd at " + where + ": port range is 0-0xffff");
        }
        int flags = extraFlags | (pio ? IOEVENTFD_FLAG_PIO : 0) | (datamatch != null ? IOEVENTFD_FLAG_DATAMATCH : 0);
        int efd = eventFd.fd();
        NativeStruct s = new NativeStruct(IOEVENTFD_SIZE);
        ByteBuffer b = s.buffer();
        b.putLong(0, datamatch != null ? datamatch : 0);
        b.putLong(8, address);
        b.putInt(16, length);
        b.putInt(20, efd);
        b.putInt(24, flags);
        String call = "KVM_IOEVENTFD(" + ((extraFlags & IOEVENTFD_FLAG_DEASSIGN) != 0 ? "DEASSIGN, " : "") + where
                + (datamatch != null ? ", datamatch 0x" + Long.toHexString(datamatch) : "") + ", eventfd " + efd + ")";
        ioctl(KvmIoctl.IOEVENTFD, s, call);
    }

    // ---- vCPUs -------------------------------------------------------------------------------

    /** KVM_CREATE_VCPU with the given id (also its initial APIC id). */
    public synchronized KvmVcpu createVcpu(int id) {
        if (id < 0 || id >= maxVcpus) {
            throw new IllegalArgumentException("vCPU id " + id + " is out of range: this KVM allows ids 0-" + (maxVcpus - 1));
        }
        for (KvmVcpu v : vcpus) {
            if (v.id() == id) {
                throw new IllegalArgumentException("vCPU " + id + " already exists");
            }
        }
        int vcpuFd = check(LIBC.ioctl(fd(), KvmIoctl.CREATE_VCPU, (long) id), "KVM_CREATE_VCPU(" + id + ")");
        KvmVcpu vcpu;
        try {
            vcpu = new KvmVcpu(id, vcpuFd, kvm.vcpuMmapSize());
        } catch (RuntimeException e) {
            Fds.closeQuietly(vcpuFd);
            throw e;
        }
        vcpus.add(vcpu);
        return vcpu;
    }

    public synchronized List<KvmVcpu> vcpus() {
        return List.copyOf(vcpus);
    }

    /** Closes every vCPU (they must not be running), then the VM. */
    @Override
    public void close() {
        List<KvmVcpu> toClose;
        synchronized (this) {
            if (closed) {
                return;
            }
            toClose = List.copyOf(vcpus);
        }
        for (KvmVcpu v : toClose) {
            v.close();
        }
        synchronized (this) {
            closed = true;
            vcpus.clear();
        }
        Fds.close(fd);
        log.debug("closed VM fd {}", fd);
    }

    // ---- internals ---------------------------------------------------------------------------

    private int fd() {
        if (closed) {
            throw new IllegalStateException("the VM is closed");
        }
        return fd;
    }

    private int ioctl(long request, NativeStruct arg, String call) {
        int rc = LIBC.ioctl(fd(), request, arg.address());
        int errno = rc < 0 ? Native.errno() : 0;
        arg.keepAlive();
        if (rc < 0) {
            throw new NativeException(call, errno);
        }
        return rc;
    }

    private static int check(int rc, String call) {
        return Native.check(rc, call);
    }

    private void requireIrqchip(String call) {
        if (!irqchip) {
            throw new IllegalStateException(call + " needs the in-kernel irqchip: call createIrqchip() first");
        }
    }

    private static void requireGsi(int gsi) {
        if (gsi < 0 || gsi >= GsiRouting.MAX_ROUTES) {
            throw new IllegalArgumentException("GSI " + gsi + " is out of range 0-" + (GsiRouting.MAX_ROUTES - 1));
        }
    }

    private static void requireBelow4G(String what, long address) {
        if (address < 0 || address > 0xFFFF_FFFFL - 0x3000 || (address & 0xFFF) != 0) {
            throw new IllegalArgumentException(what + " 0x" + Long.toHexString(address)
                    + " must be page-aligned and below 4 GiB");
        }
    }
}
