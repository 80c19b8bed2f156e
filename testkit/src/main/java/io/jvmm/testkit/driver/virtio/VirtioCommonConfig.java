package io.jvmm.testkit.driver.virtio;

import io.jvmm.testkit.driver.GuestCpu;

/**
 * Register access to struct virtio_pci_common_cfg (virtio 1.x, 4.1.4.3) with the width each
 * field requires; 64-bit queue addresses are written as two dwords, low first, as Linux does.
 */
public final class VirtioCommonConfig {
    // The field offsets are public for drivers written at the register level (the explorer's guest).
    public static final int DEVICE_FEATURE_SELECT = 0x00;
    public static final int DEVICE_FEATURE = 0x04;
    public static final int DRIVER_FEATURE_SELECT = 0x08;
    public static final int DRIVER_FEATURE = 0x0C;
    public static final int CONFIG_MSIX_VECTOR = 0x10;
    public static final int NUM_QUEUES = 0x12;
    public static final int DEVICE_STATUS = 0x14;
    public static final int CONFIG_GENERATION = 0x15;
    public static final int QUEUE_SELECT = 0x16;
    public static final int QUEUE_SIZE = 0x18;
    public static final int QUEUE_MSIX_VECTOR = 0x1A;
    public static final int QUEUE_ENABLE = 0x1C;
    public static final int QUEUE_NOTIFY_OFF = 0x1E;
    public static final int QUEUE_DESC = 0x20;
    public static final int QUEUE_DRIVER = 0x28;
    public static final int QUEUE_DEVICE = 0x30;
    public static final int LENGTH = 0x38;

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
