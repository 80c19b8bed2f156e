#include "tsc.h"
#include "cpu.h"

#define PIT_HZ 1193182UL
#define PIT_CHANNEL0 0x40
#define PIT_COMMAND 0x43
#define PIT_CH0_LOHI_RATE_GENERATOR 0x34    /* channel 0, lobyte/hibyte, mode 2, binary */
#define PIT_CH0_LATCH 0x00
/* Five windows of 20 ms each; the median is kept, so a window in which the vCPU was descheduled
 * for longer than one PIT wrap (55 ms, which would hide 65536 counts) cannot skew the result. */
#define WINDOWS 5
#define WINDOW_COUNTS (PIT_HZ / 50)
/* Consecutive reads of an unchanged count after which the PIT is declared stopped: far more
 * than one PIT period (0.84 us) of polling on any CPU. */
#define STUCK_POLLS 1000000

/*
 * Why the PIT and not the APIC timer the watchdog counts: under KVM a periodic LAPIC timer
 * whose interrupt is still pending when it fires again loses that tick, and while guest code is
 * emulated (PVM) that happens often enough to make a tick-based measure several percent off.
 * A latched PIT count is derived from the host's clock when read, so nothing is lost.
 */
static u16 pit_count(void)
{
    outb(PIT_COMMAND, PIT_CH0_LATCH);
    u8 lo = inb(PIT_CHANNEL0);
    u8 hi = inb(PIT_CHANNEL0);
    return (u16)(lo | hi << 8);
}

/* One window: TSC cycles over at least WINDOW_COUNTS PIT counts. The TSC is read just before
 * each latch at both ends, so the small delay between the two cancels out. */
static const char *window(u64 *khz)
{
    u64 tsc_start = rdtsc(), tsc = tsc_start;
    u16 prev = pit_count();
    u64 counts = 0;
    u32 stuck = 0;
    while (counts < WINDOW_COUNTS) {
        tsc = rdtsc();
        u16 now = pit_count();
        u16 elapsed = (u16)(prev - now);        /* counts down, wrapping every 65536 */
        if (elapsed == 0) {
            if (++stuck == STUCK_POLLS)
                return "PIT channel 0 does not count";
            continue;
        }
        stuck = 0;
        counts += elapsed;
        prev = now;
    }
    if (tsc <= tsc_start)
        return "the TSC does not advance";
    *khz = (tsc - tsc_start) * PIT_HZ / (counts * 1000);
    return NULL;
}

const char *tsc_measure_khz(u64 *khz)
{
    u64 samples[WINDOWS];
    const char *err = NULL;
    cli();
    outb(PIT_COMMAND, PIT_CH0_LOHI_RATE_GENERATOR);
    outb(PIT_CHANNEL0, 0);                      /* reload 0 = 65536 */
    outb(PIT_CHANNEL0, 0);
    for (int i = 0; i < WINDOWS && !err; i++)
        err = window(&samples[i]);
    sti();
    if (err)
        return err;
    for (int i = 1; i < WINDOWS; i++)           /* insertion sort for the median */
        for (int j = i; j > 0 && samples[j - 1] > samples[j]; j--) {
            u64 t = samples[j];
            samples[j] = samples[j - 1];
            samples[j - 1] = t;
        }
    *khz = samples[WINDOWS / 2];
    return *khz ? NULL : "the TSC runs slower than 1 kHz";
}
