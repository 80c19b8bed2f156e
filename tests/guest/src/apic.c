#include "apic.h"
#include "cpu.h"
#include "vectors.h"

#define MSR_APIC_BASE 0x1B
#define APIC_BASE_ENABLE (1UL << 11)
#define APIC_BASE_X2APIC (1UL << 10)
#define APIC_BASE_ADDR_MASK 0x000FFFFFFFFFF000UL

#define APIC_ID 0x20
#define APIC_TPR 0x80
#define APIC_EOI 0xB0
#define APIC_SVR 0xF0
#define APIC_LVT_TIMER 0x320
#define APIC_LVT_LINT0 0x350
#define APIC_LVT_ERROR 0x370
#define APIC_TIMER_INITIAL 0x380
#define APIC_TIMER_DIVIDE 0x3E0

#define SVR_APIC_ENABLE 0x100
#define LVT_MASKED 0x10000
#define LVT_TIMER_PERIODIC 0x20000
#define TIMER_DIVIDE_BY_16 0x3
#define TIMER_COUNTS_PER_TICK (62500U * TIMER_TICK_MS)

#define PIC1_DATA 0x21
#define PIC2_DATA 0xA1

static u64 lapic;

static u64 read_base_msr(void)
{
    return rdmsr(MSR_APIC_BASE);
}

u64 apic_base(void)
{
    return read_base_msr() & APIC_BASE_ADDR_MASK;
}

u32 apic_current_id(void)
{
    return mmio_read32(apic_base() + APIC_ID) >> 24;
}

const char *apic_init(void)
{
    /* Firmware (SeaBIOS before a PVH boot) may leave the PIC unmasked with LINT0 in ExtINT
     * mode: its timer would then arrive on vector 8, which is #DF. Mask both. */
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);

    u64 msr = read_base_msr();
    if (msr & APIC_BASE_X2APIC)
        return "local APIC is in x2APIC mode; this guest drives the xAPIC through MMIO";
    if (!(msr & APIC_BASE_ENABLE))
        wrmsr(MSR_APIC_BASE, msr | APIC_BASE_ENABLE);
    lapic = msr & APIC_BASE_ADDR_MASK;
    if (lapic >= 4 * GIB)
        return "local APIC base is above 4 GiB, outside the identity map";
    lapic_eoi_reg = lapic + APIC_EOI;

    mmio_write32(lapic + APIC_TPR, 0);
    mmio_write32(lapic + APIC_LVT_LINT0, LVT_MASKED);
    mmio_write32(lapic + APIC_LVT_ERROR, LVT_MASKED);
    mmio_write32(lapic + APIC_LVT_TIMER, LVT_MASKED);
    mmio_write32(lapic + APIC_SVR, SVR_APIC_ENABLE | SPURIOUS_VECTOR);
    if (!(mmio_read32(lapic + APIC_SVR) & SVR_APIC_ENABLE))
        return "local APIC did not accept the software-enable bit in SVR";
    return NULL;
}

void apic_timer_start(void)
{
    mmio_write32(lapic + APIC_TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
    mmio_write32(lapic + APIC_LVT_TIMER, LVT_TIMER_PERIODIC | TIMER_VECTOR);
    mmio_write32(lapic + APIC_TIMER_INITIAL, TIMER_COUNTS_PER_TICK);
}

void apic_timer_stop(void)
{
    mmio_write32(lapic + APIC_TIMER_INITIAL, 0);
    mmio_write32(lapic + APIC_LVT_TIMER, LVT_MASKED);
}

u32 apic_ticks(void)
{
    return irq_count(TIMER_VECTOR);
}
