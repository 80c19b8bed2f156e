package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.SharedMemory;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * KVM's exit reasons by code, and how an exit that ends a run is put in words from kvm_run: no
 * /dev/kvm needed, so this runs where the KVM tests skip.
 */
class ExitReasonTest {
    private static final int SIZE = 4096;
    private final SharedMemory page = SharedMemory.create("exit-reason-test", SIZE);
    private final KvmRun run = new KvmRun(page.address(), SIZE);

    @AfterEach
    void close() {
        page.close();
    }

    @Test
    void codesAreThoseOfKvmH() {
        assertEquals(0, ExitReason.UNKNOWN.code());
        assertEquals(2, ExitReason.IO.code());
        assertEquals(5, ExitReason.HLT.code());
        assertEquals(6, ExitReason.MMIO.code());
        assertEquals(7, ExitReason.IRQ_WINDOW_OPEN.code());
        assertEquals(8, ExitReason.SHUTDOWN.code());
        assertEquals(9, ExitReason.FAIL_ENTRY.code());
        assertEquals(10, ExitReason.INTR.code());
        assertEquals(17, ExitReason.INTERNAL_ERROR.code());
        assertEquals(24, ExitReason.SYSTEM_EVENT.code());
        assertEquals(37, ExitReason.NOTIFY.code());
        for (ExitReason r : ExitReason.values()) {
            if (r.code() >= 0) {
                assertEquals(r, ExitReason.of(r.code()), r + " is found by its code");
            }
        }
        for (int code = 0; code <= ExitReason.TDX.code(); code++) {
            assertEquals(code, ExitReason.of(code).code(), "every code up to the last is named, in order");
        }
        assertEquals(ExitReason.UNRECOGNIZED, ExitReason.of(ExitReason.TDX.code() + 1));
        assertEquals(ExitReason.UNRECOGNIZED, ExitReason.of(-1));
    }

    @Test
    void onlyHaltSystemEventsAndStopsEndARunWithoutFailure() {
        for (ExitReason r : new ExitReason[] {ExitReason.HLT, ExitReason.SYSTEM_EVENT, ExitReason.STOPPED}) {
            assertFalse(r.isFailure(), r.toString());
        }
        for (ExitReason r : new ExitReason[] {ExitReason.SHUTDOWN, ExitReason.FAIL_ENTRY, ExitReason.INTERNAL_ERROR,
                ExitReason.UNKNOWN, ExitReason.EXCEPTION, ExitReason.DEBUG, ExitReason.UNRECOGNIZED}) {
            assertTrue(r.isFailure(), r.toString());
        }
    }

    @Test
    void exitDataIsDescribedFromTheExitUnion() {
        ByteBuffer b = page.window(0);
        b.putInt(KvmRun.INTERNAL_SUBERROR, 1).putInt(KvmRun.INTERNAL_NDATA, 2)
                .putLong(KvmRun.INTERNAL_DATA, 0xAB).putLong(KvmRun.INTERNAL_DATA + 8, 0x10);
        assertEquals("KVM_EXIT_INTERNAL_ERROR: instruction emulation failed (suberror 1), data [0xab, 0x10]",
                ExitDetails.describe(ExitReason.INTERNAL_ERROR, 17, run));

        b.putInt(KvmRun.SYSTEM_EVENT_TYPE, 2).putInt(KvmRun.SYSTEM_EVENT_NDATA, 0);
        assertEquals("KVM_EXIT_SYSTEM_EVENT: reset", ExitDetails.describe(ExitReason.SYSTEM_EVENT, 24, run));

        b.putLong(KvmRun.FAIL_ENTRY_REASON, 0x21).putInt(KvmRun.FAIL_ENTRY_CPU, 3);
        assertEquals("KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x21 on host cpu 3",
                ExitDetails.describe(ExitReason.FAIL_ENTRY, 9, run));

        b.putLong(KvmRun.HW_EXIT_REASON, 0x30);
        assertEquals("KVM_EXIT_UNKNOWN (hardware exit reason 0x30) is not handled by jvmm",
                ExitDetails.describe(ExitReason.UNKNOWN, 0, run));
        assertEquals("KVM_EXIT_DEBUG is not handled by jvmm", ExitDetails.describe(ExitReason.DEBUG, 4, run));
        assertEquals("KVM exit reason 99 is not handled by jvmm", ExitDetails.describe(ExitReason.UNRECOGNIZED, 99, run));
        assertEquals("triple fault (KVM_EXIT_SHUTDOWN)", ExitDetails.describe(ExitReason.SHUTDOWN, 8, run));
        assertEquals("", ExitDetails.describe(ExitReason.HLT, 5, run));
    }
}
