package io.jvmm.emulator.platform;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoHandler;

import java.util.concurrent.CompletableFuture;

/**
 * The i8042 keyboard controller's reset line, the only part of it a guest without a keyboard
 * needs: command 0xFE on port 0x64 pulses CPU reset. jvmm does not reboot, so a reset ends the VM
 * with status 0 (QEMU's -no-reboot behaviour). Status reads say "no data, input buffer empty".
 */
public final class I8042ResetPort implements IoHandler {
    public static final int COMMAND_PORT = 0x64;
    private static final int CMD_RESET = 0xfe;

    private final ExitRequest exit;

    public I8042ResetPort(ExitRequest exit) {
        this.exit = exit;
    }

    /** Registered on port 0x64 alone: status reads 0 (both buffers empty). */
    @Override
    public long read(long offset, int size) {
        return 0;
    }

    @Override
    public CompletableFuture<Void> write(long offset, int size, long value) {
        if ((value & 0xff) == CMD_RESET) {
            exit.exit(0, "guest reset the machine through the i8042 (jvmm does not reboot)");
        }
        return IoCompletion.DONE;
    }
}
