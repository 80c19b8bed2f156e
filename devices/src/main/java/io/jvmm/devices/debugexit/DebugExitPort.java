package io.jvmm.devices.debugexit;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;

import java.util.concurrent.CompletableFuture;
import java.util.function.BiConsumer;

/**
 * QEMU's isa-debug-exit: a guest write of v ends the VM with status (v << 1) | 1, so a test guest
 * can report pass/fail as the process status (and 0 stays reserved for a clean shutdown).
 */
public final class DebugExitPort implements IoHandler {
    private final BiConsumer<Integer, String> exit;

    /** @param exit ends the machine with (status, reason) */
    public DebugExitPort(BiConsumer<Integer, String> exit) {
        this.exit = exit;
    }

    @Override
    public long read(long offset, int size) {
        return 0;
    }

    @Override
    public CompletableFuture<Void> write(long offset, int size, long value) {
        int status = (int) ((value << 1) | 1) & 0xff;
        exit.accept(status, String.format("guest wrote 0x%x to the debug-exit port", value));
        return IoCompletion.DONE;
    }
}
