package io.jvmm.testkit.driver.virtio;

import io.jvmm.testkit.driver.GuestCpu;

/**
 * Register access to struct virtio_pci_common_cfg (virtio 1.x, 4.1.4.3) with the width each
 * field requires; 64-bit queue addresses are written as two dwords, low first, as Linux does.
 */
public final class VirtioCommonConfig {
    static final int DEVICE_FEATURE_SELECT = 0x00;
    static final int DEVICE_FEATURE = 0x04;
    static final int DRIVER_FEATURE_SELECT = 0x08;
    static final int DRIVER_FEATURE = 0x0C;
    static final int CONFIG_MSIX_VECTOR = 0x10;
    static final int NUM_QUEUES = 0x12;
    static final int DEVICE_STATUS = 0x14;
    static final int CONFIG_GENERATION = 0x15;
    static final int QUEUE_SELECT = 0x16;
    static final int QUEUE_SIZE = 0x18;
    static final int QUEUE_MSIX_VECTOR = 0x1A;
    static final int QUEUE_ENABLE = 0x1C;
    static final int QUEUE_NOTIFY_OFF = 0x1E;
    static final int QUEUE_DESC = 0x20;
    static final int QUEUE_DRIVER = 0x28;
    static final int QUEUE_DEVICE = 0x30;
    static final int LENGTH = 0x38;

    /** "No vector" in config_msix_vector / queue_msix_vector. */
    public static final int NO_VECTOR = 0xFFFF;

    private final GuestCpu cpu;
    private final long base;

    VirtioCommonConfig(GuestCpu cpu, long base) {
        this.cpu = cpu;
        this.base = base;
    }

    int read8(int field) {
        return (int) cpu.readMmio(base + field, 1);
    }

    int read16(int field) {
        return (int) cpu.readMmio(base + field, 2);
    }

    int read32(int field) {
        return (int) cpu.readMmio(base + field, 4);
    }

    void write8(int field, int value) {
        cpu.writeMmio(base + field, 1, value & 0xFF);
    }

    void write16(int field, int value) {
        cpu.writeMmio(base + field, 2, value & 0xFFFF);
    }

    void write32(int field, int value) {
        cpu.writeMmio(base + field, 4, value & 0xFFFF_FFFFL);
    }

    void write64(int field, long value) {
        cpu.writeMmio(base + field, 4, value & 0xFFFF_FFFFL);
        cpu.writeMmio(base + field + 4, 4, value >>> 32);
    }

    long read64(int field) {
        return (cpu.readMmio(base + field, 4) & 0xFFFF_FFFFL) | (cpu.readMmio(base + field + 4, 4) << 32);
    }
}
