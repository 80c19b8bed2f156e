package io.jvmm.pci;

import io.jvmm.chardev.EventFd;
import java.util.Objects;

/**
 * A device register whose guest writes only signal an eventfd (a doorbell, a virtqueue notify):
 * {@code length} bytes at {@code offset} of BAR {@code bar}, optionally only for writes of the
 * value {@code data}. Under KVM the machine makes it a KVM ioeventfd, so the write never leaves
 * the kernel; elsewhere {@link PciDevice} matches the trapped write and signals the eventfd itself.
 * Either way the device sees the same thing: its eventfd fires.
 *
 * @param length 1, 2, 4 or 8; a write of another size is not this event's (it reaches the BAR's handler)
 */
public record IoEvent(int bar, long offset, int length, boolean matchData, long data, EventFd fd) {
    public IoEvent {
        Objects.requireNonNull(fd, "fd");
        if (bar < 0 || bar >= ConfigRegisters.BAR_COUNT) {
            throw new IllegalArgumentException("an I/O event's BAR must be 0..5, got " + bar);
        }
        if (length != 1 && length != 2 && length != 4 && length != 8) {
            throw new IllegalArgumentException("an I/O event's length must be 1, 2, 4 or 8, got " + length);
        }
        if (offset < 0) {
            throw new IllegalArgumentException("an I/O event's offset must not be negative, got " + offset);
        }
    }

    /** Any write of {@code length} bytes at the offset. */
    public static IoEvent any(int bar, long offset, int length, EventFd fd) {
        return new IoEvent(bar, offset, length, false, 0, fd);
    }

    /** Only writes of exactly {@code data} (KVM's datamatch). */
    public static IoEvent matching(int bar, long offset, int length, long data, EventFd fd) {
        return new IoEvent(bar, offset, length, true, data, fd);
    }

    /** Whether a guest write of {@code size} bytes of {@code value} at {@code barOffset} is this event. */
    public boolean matches(long barOffset, int size, long value) {
        return barOffset == offset && size == length && (!matchData || value == data);
    }

    @Override
    public String toString() {
        return String.format("BAR%d+0x%x/%d%s -> eventfd %d", bar, offset, length,
                matchData ? " ==0x" + Long.toHexString(data) : "", fd.fd());
    }
}
