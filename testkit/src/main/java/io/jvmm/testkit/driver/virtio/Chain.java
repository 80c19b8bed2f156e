package io.jvmm.testkit.driver.virtio;

import java.util.ArrayList;
import java.util.List;

/**
 * The buffers of one request, in the order they go into the descriptor chain: normally the
 * device-readable ones first, then the device-writable ones. The order is not enforced here, so
 * that tests can also build the chains a buggy guest would.
 */
public final class Chain {
    /** One buffer: guest address, length, and whether the device writes it. */
    public record Segment(long address, int length, boolean writable) {
    }

    private final List<Segment> segments = new ArrayList<>();
    private boolean indirect;

    public static Chain create() {
        return new Chain();
    }

    /** A buffer the device reads. */
    public Chain readable(long address, int length) {
        segments.add(new Segment(address, length, false));
        return this;
    }

    /** A buffer the device writes. */
    public Chain writable(long address, int length) {
        segments.add(new Segment(address, length, true));
        return this;
    }

    /** Put the chain in an indirect table (one ring descriptor), if the queue negotiated it. */
    public Chain indirect(boolean useIndirect) {
        this.indirect = useIndirect;
        return this;
    }

    public boolean isIndirect() {
        return indirect;
    }

    public List<Segment> segments() {
        return List.copyOf(segments);
    }

    public int size() {
        return segments.size();
    }

    @Override
    public String toString() {
        return "chain(" + segments.size() + " segments" + (indirect ? ", indirect" : "") + ")";
    }
}
