package io.jvmm.tests.vhost;

import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.testkit.driver.GuestCpu;
import io.jvmm.testkit.driver.virtio.RingLayout;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;

/**
 * A queue a guest enables by hand after DRIVER_OK (the driver library sets queues up before):
 * programs size, vector and ring addresses through the common configuration registers, writes
 * queue_enable, and then offers device-writable buffers and kicks at once, the way a driver
 * that enables a queue late would.
 */
final class LateQueue {
    /** virtio_pci_common_cfg offsets (virtio 1.x 4.1.4.3). */
    private static final int QUEUE_SELECT = 0x16;
    private static final int QUEUE_SIZE = 0x18;
    private static final int QUEUE_MSIX_VECTOR = 0x1A;
    private static final int QUEUE_ENABLE = 0x1C;
    private static final int QUEUE_NOTIFY_OFF = 0x1E;
    private static final int QUEUE_DESC = 0x20;
    private static final int QUEUE_DRIVER = 0x28;
    private static final int QUEUE_DEVICE = 0x30;

    private final GuestCpu cpu;
    private final GuestMemory memory;
    private final RingLayout ring;
    private final long notify;
    private final int index;
    private int availIdx;

    private LateQueue(GuestCpu cpu, RingLayout ring, long notify, int index) {
        this.cpu = cpu;
        this.memory = cpu.memory();
        this.ring = ring;
        this.notify = notify;
        this.index = index;
    }

    /** Sets queue {@code index} up with {@code size} entries and {@code vector}, and enables it (the write returns when the device completed it). */
    static LateQueue enable(VirtioPciDriver driver, int index, int size, int vector) {
        GuestCpu cpu = driver.guest().cpu();
        long common = driver.layout().common().address();
        long base = driver.guest().pages().allocateZeroed(cpu, RingLayout.bytesFor(size));
        RingLayout ring = RingLayout.of(size, base);
        cpu.writeMmio(common + QUEUE_SELECT, 2, index);
        cpu.writeMmio(common + QUEUE_SIZE, 2, size);
        cpu.writeMmio(common + QUEUE_MSIX_VECTOR, 2, vector);
        cpu.writeMmio(common + QUEUE_DESC, 8, ring.desc());
        cpu.writeMmio(common + QUEUE_DRIVER, 8, ring.avail());
        cpu.writeMmio(common + QUEUE_DEVICE, 8, ring.used());
        long notifyOff = cpu.readMmio(common + QUEUE_NOTIFY_OFF, 2);
        long notify = driver.layout().notifyAddress((int) notifyOff, "late queue " + index);
        cpu.writeMmio(common + QUEUE_ENABLE, 2, 1);
        return new LateQueue(cpu, ring, notify, index);
    }

    /** Publishes a device-writable buffer and notifies the device, unconditionally. */
    void offerAndKick(long address, int length) {
        int head = availIdx % ring.size();
        long d = ring.desc() + 16L * head;
        memory.write64(d, address);
        memory.write32(d + 8, length);
        memory.write16(d + 12, 2);   // VIRTQ_DESC_F_WRITE
        memory.write16(d + 14, 0);
        memory.write16(ring.avail() + 4 + 2L * head, head);
        availIdx = (availIdx + 1) & 0xffff;
        memory.write16Release(ring.avail() + 2, availIdx);
        cpu.writeMmio(notify, 2, index);
    }

    int usedIndex() {
        return memory.read16Acquire(ring.used() + 2);
    }
}
