package io.jvmm.pci.msix;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RecordingInterruptSinkTest {

    private final RecordingInterruptSink sink = new RecordingInterruptSink();
    private final MsiMessage a = new MsiMessage(0xFEE0_0000L, 0x21);
    private final MsiMessage b = new MsiMessage(0xFEE0_1000L, 0x21);

    @Test
    void countsPerMessage() {
        sink.deliver(a);
        sink.deliver(b);
        sink.deliver(a);
        assertEquals(2, sink.count(a));
        assertEquals(1, sink.count(0xFEE0_1000L, 0x21));
        assertEquals(0, sink.count(0xFEE0_1000L, 0x22));
        assertEquals(3, sink.total());
        assertEquals(a, sink.last());
        assertEquals(Map.of(a, 2L, b, 1L), sink.counts());
        sink.clear();
        assertEquals(0, sink.total());
        assertNull(sink.last());
    }

    @Test
    void awaitReturnsOnceDeliveredFromAnotherThread() throws Exception {
        Thread t = new Thread(() -> {
            for (int i = 0; i < 3; i++) {
                sink.deliver(a);
            }
        });
        t.start();
        assertTrue(sink.awaitCount(a, 3, Duration.ofSeconds(20)));
        assertTrue(sink.awaitTotal(3, Duration.ofSeconds(20)));
        t.join();
    }

    @Test
    void awaitTimesOut() {
        sink.deliver(b);
        assertFalse(sink.awaitCount(a, 1, Duration.ofMillis(30)));
        assertFalse(sink.awaitTotal(2, Duration.ofMillis(30)));
    }

    @Test
    void concurrentDeliveriesAreAllCounted() throws Exception {
        Thread[] threads = new Thread[4];
        for (int t = 0; t < threads.length; t++) {
            threads[t] = new Thread(() -> {
                for (int i = 0; i < 10_000; i++) {
                    sink.deliver(i % 2 == 0 ? a : b);
                }
            });
            threads[t].start();
        }
        for (Thread thread : threads) {
            thread.join();
        }
        assertEquals(40_000, sink.total());
        assertEquals(20_000, sink.count(a));
    }
}
