package io.jvmm.testkit.driver;

import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.pci.msix.RecordingInterruptSink;

import java.time.Duration;
import java.util.Objects;

/**
 * The guest's view of incoming MSIs: how many times each (address, data) message arrived, and a
 * wait for the next one. The usual pattern, which never misses an interrupt: take
 * {@link #count} first, then look at the device's state, and only if there is nothing to do
 * wait for the count to pass the snapshot.
 */
public final class GuestInterrupts {
    /** The x86 local APIC message address with destination 0, as guests program MSI-X. */
    public static final long MSI_ADDRESS = 0xFEE0_0000L;
    /** Vectors below 0x20 are exceptions on x86; guests hand out data values above. */
    private static final int FIRST_DATA = 0x30;

    private final RecordingInterruptSink sink;
    private int nextData = FIRST_DATA;

    public GuestInterrupts(RecordingInterruptSink sink) {
        this.sink = Objects.requireNonNull(sink, "sink");
    }

    /** A message no other vector of this guest uses, so deliveries can be told apart. */
    public synchronized MsiMessage allocateMessage() {
        if (nextData > 0xFF) {
            throw new GuestDriverException("guest ran out of x86 interrupt vectors (0x30..0xff)");
        }
        return new MsiMessage(MSI_ADDRESS, nextData++);
    }

    public long count(MsiMessage message) {
        return sink.count(message);
    }

    /**
     * Waits until {@code message} has arrived more than {@code seen} times in all.
     *
     * @return false on timeout
     */
    public boolean awaitMoreThan(MsiMessage message, long seen, Duration timeout) {
        return sink.awaitCount(message, seen + 1, timeout);
    }
}
