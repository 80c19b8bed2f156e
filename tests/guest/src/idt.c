/* The interrupt descriptor table and the exception report. */
#include "vectors.h"
#include "console.h"
#include "cpu.h"
#include "guest.h"

struct idt_gate {
    u16 offset_low;
    u16 selector;
    u8 ist;
    u8 type_attr;
    u16 offset_mid;
    u32 offset_high;
    u32 reserved;
} PACKED;

struct idt_pointer {
    u16 limit;
    u64 base;
} PACKED;

#define GATE_INTERRUPT_PRESENT 0x8E     /* present, DPL 0, 64-bit interrupt gate (clears IF) */

extern const u64 irq_stubs[IRQ_VECTOR_COUNT];
extern char spurious_stub[];

volatile u32 irq_counts[IRQ_VECTOR_COUNT];
u64 lapic_eoi_reg;

static struct idt_gate idt[256] ALIGNED(16);

static void set_gate(unsigned vector, u64 handler, u16 cs)
{
    struct idt_gate *g = &idt[vector];
    g->offset_low = (u16)handler;
    g->selector = cs;
    g->ist = 0;
    g->type_attr = GATE_INTERRUPT_PRESENT;
    g->offset_mid = (u16)(handler >> 16);
    g->offset_high = (u32)(handler >> 32);
    g->reserved = 0;
}

static void load_idt(u64 base, u16 limit)
{
    struct idt_pointer p = { limit, base };
    __asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

void idt_init(void)
{
    /* The code selector is whatever we run on: 0x08 in both boot paths, but not assumed. */
    u16 cs = read_cs();
    for (unsigned v = 0; v < 32; v++)
        set_gate(v, exception_stubs[v], cs);
    for (unsigned i = 0; i < IRQ_VECTOR_COUNT; i++)
        set_gate(IRQ_FIRST_VECTOR + i, irq_stubs[i], cs);
    set_gate(SPURIOUS_VECTOR, (u64)spurious_stub, cs);
    /* Other vectors stay not-present: a stray one raises #NP, reported with its vector. */
    load_idt((u64)idt, sizeof(idt) - 1);
}

void idt_set_gate(unsigned vector, u64 handler)
{
    set_gate(vector, handler, read_cs());
}

void idt_load_empty(void)
{
    load_idt(0, 0);
}

static const char *const exception_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
    "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved 15", "#MF x87 error", "#AC alignment check", "#MC machine check",
    "#XM SIMD error", "#VE virtualization", "#CP control protection", "reserved 22", "reserved 23",
    "reserved 24", "reserved 25", "reserved 26", "reserved 27", "#HV hypervisor injection",
    "#VC VMM communication", "#SX security", "reserved 31",
};

/* Called by exception_common in vectors.S with the frame it pushed. Never returns. */
NORETURN void exception_report(u64 vector, u64 error, u64 rip, u64 cr2);
NORETURN void exception_report(u64 vector, u64 error, u64 rip, u64 cr2)
{
    const char *name = vector < 32 ? exception_names[vector] : "?";
    kprintf("jvmm-guest: exception %lu (%s) rip=0x%lx error=0x%lx cr2=0x%lx\n", vector, name, rip, error, cr2);
    if (vector == 11 || vector == 13)
        kprintf("jvmm-guest: error code names %s vector 0x%lx (no handler installed for it?)\n",
                (error & 2) ? "IDT" : "selector", (error & 2) ? error >> 3 : error);
    guest_fail("exception %lu (%s) at rip 0x%lx", vector, name, rip);
}
