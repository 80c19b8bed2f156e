package io.jvmm.pci.msix;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The MSI-X pending-bit array: bit n of qword q is vector 64q+n. Read-only; reads of any size. */
final class MsixPbaHandler implements IoHandler {

    private static final Logger log = LoggerFactory.getLogger(MsixPbaHandler.class);

    private final Msix msix;

    MsixPbaHandler(Msix msix) {
        this.msix = msix;
    }

    @Override
    public long read(long offset, int size) {
        if (offset < 0 || offset + size > msix.pbaSize()) {
            log.debug("{}: ignoring {}-byte MSI-X PBA read at 0x{}", msix.deviceId(), size, Long.toHexString(offset));
            return 0;
        }
        long value = 0;
        for (int i = 0; i < size; i++) {
            long byteOffset = offset + i;
            long qword = msix.pendingBits((int) (byteOffset / 8) * 64);
            long b = (qword >>> (8 * (byteOffset % 8))) & 0xFF;
            value |= b << (8 * i);
        }
        return value;
    }

    @Override
    public CompletableFuture<Void> write(long offset, int size, long value) {
        log.debug("{}: ignoring write to the read-only MSI-X PBA at 0x{}", msix.deviceId(), Long.toHexString(offset));
        return IoCompletion.DONE;
    }
}
