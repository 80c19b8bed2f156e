package io.jvmm.testkit.driver;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

@Timeout(value = 10, unit = TimeUnit.SECONDS)
class PageAllocatorTest {
    private static final long BASE = 0x10_0000;

    @Test
    void allocatesPageAlignedRunsInsideTheRange() {
        PageAllocator pages = new PageAllocator(BASE, BASE + 16 * PageAllocator.PAGE);
        long a = pages.allocate(1);
        long b = pages.allocate(PageAllocator.PAGE + 1);
        assertEquals(BASE, a);
        assertEquals(BASE + PageAllocator.PAGE, b, "first fit after the first page");
        assertEquals(13, pages.freePages());
        long c = pages.allocate(3 * PageAllocator.PAGE);
        assertEquals(BASE + 3 * PageAllocator.PAGE, c);
    }

    @Test
    void reusesFreedHolesFirstFit() {
        PageAllocator pages = new PageAllocator(BASE, BASE + 8 * PageAllocator.PAGE);
        long a = pages.allocate(2 * PageAllocator.PAGE);
        long b = pages.allocate(PageAllocator.PAGE);
        pages.free(a);
        assertEquals(a, pages.allocate(PageAllocator.PAGE), "a one-page request fits the two-page hole");
        long big = pages.allocate(3 * PageAllocator.PAGE);
        assertTrue(big > b, "a three-page request skips the remaining one-page hole");
    }

    @Test
    void refusesWhatDoesNotFitAndBadFrees() {
        PageAllocator pages = new PageAllocator(BASE, BASE + 4 * PageAllocator.PAGE);
        pages.allocate(PageAllocator.PAGE);
        long middle = pages.allocate(PageAllocator.PAGE);
        pages.allocate(PageAllocator.PAGE);
        pages.free(middle);
        GuestDriverException e = assertThrows(GuestDriverException.class, () -> pages.allocate(2 * PageAllocator.PAGE));
        assertTrue(e.getMessage().contains("no run of 2 free pages"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> pages.free(middle), "double free");
        assertThrows(IllegalArgumentException.class, () -> pages.free(BASE + 1), "not an allocation");
        assertThrows(IllegalArgumentException.class, () -> pages.allocate(0));
        assertThrows(IllegalArgumentException.class, () -> new PageAllocator(BASE + 1, BASE + PageAllocator.PAGE));
    }
}
