package io.jvmm.virtio.pci;

import io.jvmm.pci.ConfigInterceptor;
import io.jvmm.pci.ConfigSpace;
import io.jvmm.pci.dispatch.IoCompletion;

import java.util.concurrent.CompletableFuture;

import static io.jvmm.virtio.pci.VirtioPciCapability.*;

/**
 * VIRTIO_PCI_CAP_PCI_CFG (virtio 1.x 4.1.4.9): an access to pci_cfg_data becomes an access of
 * cap.length bytes at cap.offset of the BAR named by cap.bar. Only the virtio BAR is reachable;
 * anything else reads the stored bytes and writes nowhere.
 */
final class PciCfgWindow implements ConfigInterceptor {
    interface BarReader {
        long read(int offset, int size);
    }

    interface BarWriter {
        CompletableFuture<Void> write(int offset, int size, long value);
    }

    private final ConfigSpace config;
    private final int cap;
    private final BarReader reader;
    private final BarWriter writer;

    PciCfgWindow(ConfigSpace config, int cap, BarReader reader, BarWriter writer) {
        this.config = config;
        this.cap = cap;
        this.reader = reader;
        this.writer = writer;
    }

    private boolean targetsVirtioBar(int length) {
        long offset = Integer.toUnsignedLong(config.get32(cap + OFFSET));
        return config.get8(cap + BAR) == VirtioPciDevice.VIRTIO_BAR
                && (length == 1 || length == 2 || length == 4)
                && offset % length == 0 && offset < VirtioPciDevice.NOTIFY_OFFSET + 0x1000;
    }

    @Override
    public int read(int offsetInRange, int size, int storedValue) {
        int length = config.get32(cap + LENGTH);
        if (offsetInRange != 0 || !targetsVirtioBar(length)) {
            return storedValue;
        }
        long value = reader.read(config.get32(cap + OFFSET), length);
        return (int) value & (size == 4 ? -1 : (1 << (8 * size)) - 1);
    }

    @Override
    public CompletableFuture<Void> written(int offsetInRange, int size, int value) {
        int length = config.get32(cap + LENGTH);
        if (offsetInRange != 0 || !targetsVirtioBar(length)) {
            return IoCompletion.DONE;
        }
        return writer.write(config.get32(cap + OFFSET), length, Integer.toUnsignedLong(config.get32(cap + PCI_CFG_DATA)));
    }
}
