package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.SharedMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The kvm_run view over a plain shared mapping: value encoding and the bounds checks. */
class KvmRunTest {
    private static final int SIZE = 12288;
    private final SharedMemory page = SharedMemory.create("kvm-run-test", SIZE);
    private final KvmRun run = new KvmRun(page.address(), SIZE);

    @AfterEach
    void close() {
        page.close();
    }

    @Test
    void valuesAreLittleEndianAndZeroExtended() {
        run.writeValue(4096, 4, 0xFFFFFFFF_89ABCDEFL);
        assertEquals(0xEF, page.window(0).get(4096) & 0xFF);
        assertEquals(0x89ABCDEFL, run.readValue(4096, 4), "only the access size is stored and read back");
        run.writeValue(40, 8, 0x8877665544332211L);
        assertEquals(0x8877665544332211L, run.readValue(40, 8));
        assertEquals(0x2211, run.readValue(40, 2));
        assertEquals(0x11, run.readValue(40, 1));
    }

    @Test
    void fieldsAreReadAtTheirKvmRunOffsets() {
        page.window(0).putInt(8, 2);
        page.window(0).put(33, (byte) 4);
        page.window(0).putShort(34, (short) 0xCFC);
        page.window(0).putLong(40, 4096);
        assertEquals(2, run.exitReason());
        assertEquals(4, run.u8(KvmRun.IO_SIZE));
        assertEquals(0xCFC, run.u16(KvmRun.IO_PORT));
        assertEquals(4096, run.u64(KvmRun.IO_DATA_OFFSET));
        run.setImmediateExit(true);
        assertEquals(1, page.window(0).get(1));
        assertTrue(run.immediateExit());
        run.setImmediateExit(false);
        assertFalse(run.immediateExit());
    }

    @Test
    void stringIoDataOutsideTheMappingIsRefused() {
        assertEquals(4096, run.checkedDataRange(4096, 1, 8192));
        assertThrows(IllegalStateException.class, () -> run.checkedDataRange(4096, 1, 8193));
        assertThrows(IllegalStateException.class, () -> run.checkedDataRange(-8, 4, 1));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> run.checkedDataRange(4096, 4, 0xFFFFFFFFL));
        assertTrue(e.getMessage().contains("outside the 12288-byte kvm_run mapping"), e.getMessage());
    }
}
