#include "usermode.h"
#include "cpu.h"
#include "vectors.h"

#define TSS_TYPE_AVAILABLE_64 0x89UL    /* present, DPL 0, type 9 */
#define INTERRUPT_STACK_BYTES 16384

struct tss64 {
    u32 reserved0;
    u64 rsp0;
    u64 rsp1;
    u64 rsp2;
    u64 reserved1;
    u64 ist[7];
    u64 reserved2;
    u16 reserved3;
    u16 iomap_base;                     /* = sizeof: no I/O permission bitmap */
} PACKED;

struct gdt_pointer {
    u16 limit;
    u64 base;
} PACKED;

/* Null, kernel code (64-bit), kernel data, user data (DPL 3), user code (64-bit, DPL 3), then
 * the 16-byte TSS descriptor, filled in at run time. */
static u64 gdt[7] ALIGNED(16) = {
    0,
    0x00AF9A000000FFFFUL,
    0x00CF92000000FFFFUL,
    0x00CFF2000000FFFFUL,
    0x00AFFA000000FFFFUL,
    0,
    0,
};
static struct tss64 tss ALIGNED(16);
static u8 interrupt_stack[INTERRUPT_STACK_BYTES] ALIGNED(16);
static int ready;

extern char usermode_gp_entry[];        /* usermode.S */

const char *usermode_init(void)
{
    if (ready)
        return NULL;
    if (read_cs() != KERNEL_CS)
        return "running on a code selector other than 0x08: cannot swap in our GDT";
    tss.rsp0 = (u64)(interrupt_stack + INTERRUPT_STACK_BYTES);
    tss.iomap_base = sizeof(tss);
    u64 base = (u64)&tss, limit = sizeof(tss) - 1;
    gdt[TSS_SEL / 8] = (limit & 0xFFFF) | (base & 0xFFFFFF) << 16 | TSS_TYPE_AVAILABLE_64 << 40 |
                       ((limit >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56;
    gdt[TSS_SEL / 8 + 1] = base >> 32;

    /* CS keeps its cached descriptor: entry 0x08 is the same 64-bit code segment as before. */
    struct gdt_pointer p = { sizeof(gdt) - 1, (u64)gdt };
    __asm__ volatile("lgdt %0\n\t"
                     "movl %1, %%eax\n\t"
                     "movl %%eax, %%ds\n\t"
                     "movl %%eax, %%es\n\t"
                     "movl %%eax, %%ss\n\t"
                     "movw %2, %%ax\n\t"
                     "ltr %%ax"
                     : : "m"(p), "i"(KERNEL_DS), "i"(TSS_SEL) : "rax", "memory");
    idt_set_gate(GP_VECTOR, (u64)usermode_gp_entry);
    ready = 1;
    return NULL;
}
