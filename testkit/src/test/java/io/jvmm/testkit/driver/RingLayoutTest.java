package io.jvmm.testkit.driver;

import io.jvmm.testkit.driver.virtio.RingLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class RingLayoutTest {
    @Test
    void partsFollowEachOtherWithTheirAlignment() {
        RingLayout r = RingLayout.of(256, 0x20_0000);
        assertEquals(0x20_0000, r.desc());
        assertEquals(0x20_0000 + 16 * 256, r.avail());
        // avail: flags, idx, 256 entries, used_event = 6 + 512 bytes; used must be 4-aligned
        assertEquals(r.avail() + 6 + 512 + 2, r.used());
        assertEquals(0, r.used() % 4);
        assertEquals(r.used() + 6 + 8 * 256 - r.desc(), r.bytes());
    }

    @Test
    void oddSizesStillGetValidAlignedAddresses() {
        RingLayout r = RingLayout.of(3, 0x1000);
        assertEquals(0, r.used() % 4);
        assertTrue(r.used() >= r.avail() + 6 + 2 * 3);
        RingLayout zero = RingLayout.of(0, 0x1000);
        assertTrue(zero.bytes() > 0, "a size-0 ring still has room for one entry");
    }
}
