package io.jvmm.virtio.pci;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import io.jvmm.pci.msix.Msix;

import java.util.concurrent.CompletableFuture;

/** The BAR holding the MSI-X table at offset 0 and the PBA at {@code pbaOffset}. */
final class MsixBar implements IoHandler {
    private final IoHandler table;
    private final IoHandler pba;
    private final long tableSize;
    private final long pbaOffset;
    private final long pbaSize;

    MsixBar(Msix msix, long pbaOffset) {
        this.table = msix.tableHandler();
        this.pba = msix.pbaHandler();
        this.tableSize = msix.tableSize();
        this.pbaOffset = pbaOffset;
        this.pbaSize = msix.pbaSize();
    }

    @Override
    public long read(long offset, int size) {
        if (offset + size <= tableSize) {
            return table.read(offset, size);
        }
        if (offset >= pbaOffset && offset + size <= pbaOffset + pbaSize) {
            return pba.read(offset - pbaOffset, size);
        }
        return 0;
    }

    @Override
    public CompletableFuture<Void> write(long offset, int size, long value) {
        if (offset + size <= tableSize) {
            return table.write(offset, size, value);
        }
        if (offset >= pbaOffset && offset + size <= pbaOffset + pbaSize) {
            return pba.write(offset - pbaOffset, size, value);
        }
        return IoCompletion.DONE;
    }
}
