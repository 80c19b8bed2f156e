package io.jvmm.pci.msix;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import java.util.concurrent.CompletableFuture;

/** A BAR holding an MSI-X table at {@link #TABLE} and its PBA at {@link #PBA}, as a device would route them. */
final class MsixBarHandler implements IoHandler {

    static final long TABLE = 0;
    static final long PBA = 0x800;
    static final long SIZE = 0x1000;

    private Msix msix;

    void attach(Msix m) {
        this.msix = m;
    }

    @Override
    public long read(long offset, int size) {
        if (offset >= PBA && offset < PBA + msix.pbaSize()) {
            return msix.pbaHandler().read(offset - PBA, size);
        }
        if (offset < TABLE + msix.tableSize()) {
            return msix.tableHandler().read(offset - TABLE, size);
        }
        return 0;
    }

    @Override
    public CompletableFuture<Void> write(long offset, int size, long value) {
        if (offset >= PBA && offset < PBA + msix.pbaSize()) {
            return msix.pbaHandler().write(offset - PBA, size, value);
        }
        if (offset < TABLE + msix.tableSize()) {
            return msix.tableHandler().write(offset - TABLE, size, value);
        }
        return IoCompletion.DONE;
    }
}
