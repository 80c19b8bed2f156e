package io.jvmm.pci.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class IoSpaceTest {

    private final IoSpace space = new IoSpace("mmio", 1L << 32);

    @Test
    void dispatchesRegionRelativeOffsetsAndSizes() {
        RecordingHandler h = new RecordingHandler(0x1000);
        space.register("dev0 BAR0", 0x8000, 0x100, h);

        assertEquals(0x1000 + 0x10, space.read(0x8010, 4));
        assertEquals(List.of("16/4"), h.reads);
        assertSame(IoCompletion.DONE, space.write(0x80FE, 2, 0xABCD));
        assertEquals(List.of("254/2/0xabcd"), h.writes);
    }

    @Test
    void writeValueIsTruncatedToTheAccessSize() {
        RecordingHandler h = new RecordingHandler(0);
        space.register("d", 0x100, 0x10, h);
        space.write(0x100, 1, 0x1234_5678L);
        space.write(0x104, 4, 0xFFFF_FFFF_1234_5678L);
        assertEquals(List.of("0/1/0x78", "4/4/0x12345678"), h.writes);
    }

    @Test
    void readValueIsZeroExtendedToTheAccessSize() {
        space.register("d", 0x100, 0x10, new RecordingHandler(-1L));
        assertEquals(0xFFL, space.read(0x100, 1) , "a handler returning junk in high bits is masked");
        assertEquals(0xFFFFL, space.read(0x100, 2));
    }

    @Test
    void overlappingRegistrationIsRefusedNamingBothOwners() {
        space.register("net0 BAR4", 0x1000, 0x1000, new RecordingHandler(0));

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> space.register("blk0 BAR1", 0x1800, 0x1000, new RecordingHandler(0)));
        assertTrue(e.getMessage().contains("net0 BAR4") && e.getMessage().contains("blk0 BAR1"), e.getMessage());
        assertTrue(e.getMessage().contains("0x1000-0x1fff") && e.getMessage().contains("0x1800-0x27ff"), e.getMessage());

        // overlapping from below, containing, contained: all refused
        assertThrows(IllegalArgumentException.class, () -> space.register("a", 0x800, 0x801, new RecordingHandler(0)));
        assertThrows(IllegalArgumentException.class, () -> space.register("b", 0x0, 0x10000, new RecordingHandler(0)));
        assertThrows(IllegalArgumentException.class, () -> space.register("c", 0x1004, 4, new RecordingHandler(0)));
        // adjacent on both sides: fine
        space.register("below", 0x0, 0x1000, new RecordingHandler(0));
        space.register("above", 0x2000, 0x10, new RecordingHandler(0));
        assertEquals(3, space.regions().size());
    }

    @Test
    void unassignedReadIsAllOnesForEachSize() {
        space.register("d", 0x100, 0x10, new RecordingHandler(0));
        assertEquals(0xFFL, space.read(0x200, 1));
        assertEquals(0xFFFFL, space.read(0x200, 2));
        assertEquals(0xFFFF_FFFFL, space.read(0x200, 4));
        assertEquals(-1L, space.read(0x200, 8));
        assertEquals(0xFFL, space.read(0x0, 1), "below the first region");
    }

    @Test
    void unassignedWriteIsDropped() {
        RecordingHandler h = new RecordingHandler(0);
        h.nextCompletion = new CompletableFuture<>();
        space.register("d", 0x100, 0x10, h);
        assertSame(IoCompletion.DONE, space.write(0xFF, 1, 1));
        assertSame(IoCompletion.DONE, space.write(0x110, 4, 1));
        assertTrue(h.writes.isEmpty());
    }

    @Test
    void boundariesOfARegion() {
        RecordingHandler h = new RecordingHandler(0x500);
        RecordingHandler next = new RecordingHandler(0x900);
        space.register("d", 0x100, 0x10, h);
        space.register("next", 0x110, 0x10, next);

        assertEquals(0x500 + 0xE, space.read(0x10E, 2), "last word belongs to the region");
        assertEquals(0x500 + 0xC, space.read(0x10C, 4), "last dword fits exactly");
        assertEquals(0xFFFF_FFFFL, space.read(0x10E, 4), "an access running past the end reads all ones");
        assertEquals(0x900, space.read(0x110, 4), "the first byte after belongs to the next region");
        assertSame(IoCompletion.DONE, space.write(0x10E, 4, 7));
        assertTrue(h.writes.isEmpty() && next.writes.isEmpty(), "a straddling write reaches nobody");
        assertEquals(List.of("14/2", "12/4"), h.reads);
    }

    @Test
    void findAndUnregister() {
        IoRegion r = space.register("d", 0x100, 0x10, new RecordingHandler(0));
        assertEquals(r, space.find(0x10F).orElseThrow());
        assertTrue(space.find(0x110).isEmpty());
        assertTrue(space.find(0xFF).isEmpty());

        space.unregister(r);
        assertTrue(space.find(0x100).isEmpty());
        assertEquals(0xFFL, space.read(0x100, 1));
        space.unregister(r);   // idempotent
        space.unregister(null);
        // the range is free again
        space.register("e", 0x100, 0x10, new RecordingHandler(0));
    }

    @Test
    void unregisterGoesByIdentity() {
        RecordingHandler h = new RecordingHandler(0);
        IoRegion r = space.register("d", 0x100, 0x10, h);
        space.unregister(new IoRegion("d", 0x100, 0x10, h));
        assertSame(r, space.find(0x100).orElseThrow(), "an equal but different region must not unregister it");
    }

    @Test
    void badSizesAreRefused() {
        space.register("d", 0x100, 0x10, new RecordingHandler(0));
        for (int size : new int[] {0, 3, 5, 16, -1}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> space.read(0x100, size));
            assertTrue(e.getMessage().contains("mmio") && e.getMessage().contains("0x100"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> space.write(0x100, size, 0));
        }
    }

    @Test
    void registrationOutsideTheSpaceIsRefused() {
        IoSpace pio = IoSpace.pio();
        assertThrows(IllegalArgumentException.class, () -> pio.register("d", 0xFFF8, 0x10, new RecordingHandler(0)));
        assertThrows(IllegalArgumentException.class, () -> pio.register("d", -4, 4, new RecordingHandler(0)));
        assertThrows(IllegalArgumentException.class, () -> pio.register("d", 0x10, 0, new RecordingHandler(0)));
        pio.register("d", 0xFFF0, 0x10, new RecordingHandler(0));
        assertEquals(0xFFFFL, pio.read(0x1_0000, 2), "outside the space reads as unassigned");
    }

    @Test
    void writeHandsBackTheHandlersCompletion() {
        RecordingHandler h = new RecordingHandler(0);
        CompletableFuture<Void> ack = new CompletableFuture<>();
        h.nextCompletion = ack;
        space.register("d", 0x100, 0x10, h);
        assertSame(ack, space.write(0x104, 4, 1));
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void lookupsStayCorrectWhileOtherRegionsComeAndGo() throws Exception {
        RecordingHandler stable = new RecordingHandler(0x7000);
        space.register("stable", 0x10_0000, 0x1000, stable);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> readers = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            Thread reader = new Thread(() -> {
                try {
                    long i = 0;
                    while (!stop.get()) {
                        long off = (i++ * 8) & 0xFF8;
                        long v = space.read(0x10_0000 + off, 8);
                        if (v != 0x7000 + off) {
                            throw new AssertionError("stable region read 0x" + Long.toHexString(v) + " at offset " + off);
                        }
                    }
                } catch (Throwable e) {
                    failure.set(e);
                }
            });
            reader.start();
            readers.add(reader);
        }
        long deadline = System.nanoTime() + Duration.ofMillis(500).toNanos();
        int n = 0;
        while (System.nanoTime() < deadline) {
            long base = (n % 64) * 0x1000L + (n % 2 == 0 ? 0 : 0x20_0000);
            IoRegion r = space.register("churn" + n, base, 0x1000, new RecordingHandler(0));
            space.unregister(r);
            n++;
        }
        stop.set(true);
        for (Thread reader : readers) {
            reader.join();
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        assertEquals(1, space.regions().size());
    }
}
