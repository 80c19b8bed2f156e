package io.jvmm.emulator.boot;

/** A named guest-physical range [start, end): where the loader put something, for logs and checks. */
public record AddressRange(String name, long start, long end) {
    public AddressRange {
        if (end < start) {
            throw new IllegalArgumentException(String.format("%s: end 0x%x before start 0x%x", name, end, start));
        }
    }

    public long size() {
        return end - start;
    }

    public boolean overlaps(long otherStart, long otherEnd) {
        return start < otherEnd && otherStart < end;
    }

    @Override
    public String toString() {
        return String.format("%s [0x%x-0x%x)", name, start, end);
    }
}
