package io.jvmm.pci.msix;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The MSI-X vector table as the guest sees it: 16 bytes per vector (address low, address high,
 * data, vector control). The spec allows only aligned dword and qword accesses; others read 0
 * and are ignored. A qword write of the address replaces both halves in one step.
 */
final class MsixTableHandler implements IoHandler {

    private static final Logger log = LoggerFactory.getLogger(MsixTableHandler.class);

    private final Msix msix;

    MsixTableHandler(Msix msix) {
        this.msix = msix;
    }

    @Override
    public long read(long offset, int size) {
        if (!valid(offset, size)) {
            log.debug("{}: ignoring {}-byte MSI-X table read at 0x{}", msix.deviceId(), size, Long.toHexString(offset));
            return 0;
        }
        int vector = (int) (offset / Msix.ENTRY_SIZE);
        int field = (int) (offset % Msix.ENTRY_SIZE);
        MsiMessage message = msix.message(vector);
        long control = msix.isVectorMaskBitSet(vector) ? 1 : 0;
        return switch (field) {
            case 0 -> size == 8 ? message.address() : message.address() & 0xFFFFFFFFL;
            case 4 -> message.address() >>> 32;
            case 8 -> size == 8 ? (message.data() & 0xFFFFFFFFL) | (control << 32) : message.data() & 0xFFFFFFFFL;
            default -> control;
        };
    }

    @Override
    public CompletableFuture<Void> write(long offset, int size, long value) {
        if (!valid(offset, size)) {
            log.debug("{}: ignoring {}-byte MSI-X table write at 0x{}", msix.deviceId(), size, Long.toHexString(offset));
            return IoCompletion.DONE;
        }
        int vector = (int) (offset / Msix.ENTRY_SIZE);
        int field = (int) (offset % Msix.ENTRY_SIZE);
        switch (field) {
            case 0 -> msix.updateMessage(vector, size == 8 ? -1L : 0xFFFFFFFFL, value, false, 0);
            case 4 -> msix.updateMessage(vector, 0xFFFFFFFF00000000L, value << 32, false, 0);
            case 8 -> {
                msix.updateMessage(vector, 0, 0, true, (int) value);
                if (size == 8) {
                    return msix.setVectorMask(vector, ((value >>> 32) & 1) != 0);
                }
            }
            default -> {
                return msix.setVectorMask(vector, (value & 1) != 0);
            }
        }
        return IoCompletion.DONE;
    }

    private boolean valid(long offset, int size) {
        return offset >= 0 && offset + size <= msix.tableSize()
                && ((size == 4 && (offset & 3) == 0) || (size == 8 && (offset & 7) == 0));
    }
}
