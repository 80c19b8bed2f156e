/*
 * Interrupt and exception entry stubs.
 *
 * Interrupt stubs are kept to a handful of instructions because every one of them is emulated
 * under PVM: count the vector in irq_counts[], EOI the local APIC (write 0 to its EOI register,
 * whose address apic.c stores in lapic_eoi_reg) and iretq. They touch only %rax, which they save.
 * No C runs in interrupt context, so the interrupted code's registers need no saving.
 *
 * Exception stubs push a uniform frame (vector, error code) and call exception_report(), which
 * prints the cause and ends the VM through debug-exit; exceptions are never resumed.
 */
#include "vectors.h"

    .text
    .code64

/* Vectors for which the CPU pushes an error code. */
#define HAS_ERR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

    .macro EXC_STUB v
exc_stub_\v:
    .if HAS_ERR(\v) == 0
    pushq $0
    .endif
    pushq $\v
    jmp exception_common
    .endm

    .altmacro
    .set v, 0
    .rept 32
    EXC_STUB %v
    .set v, v + 1
    .endr

exception_common:
    /* (%rsp) vector, 8 error code, 16 rip, 24 cs, 32 rflags, 40 rsp, 48 ss */
    movq (%rsp), %rdi
    movq 8(%rsp), %rsi
    movq 16(%rsp), %rdx
    movq %cr2, %rcx
    andq $-16, %rsp
    call exception_report
1:  cli
    hlt
    jmp 1b

    .macro IRQ_STUB v
irq_stub_\v:
    incl irq_counts + 4 * (\v - IRQ_FIRST_VECTOR)(%rip)
    pushq %rax
    movq lapic_eoi_reg(%rip), %rax
    movl $0, (%rax)
    popq %rax
    iretq
    .endm

    .set v, IRQ_FIRST_VECTOR
    .rept IRQ_VECTOR_COUNT
    IRQ_STUB %v
    .set v, v + 1
    .endr

    /* The APIC's spurious vector: no EOI for it (SDM 10.9). */
    .globl spurious_stub
spurious_stub:
    iretq

    .section .rodata
    .balign 8
    .macro STUB_ADDR kind, v
    .quad \kind\()_stub_\v
    .endm

    .globl exception_stubs
exception_stubs:
    .set v, 0
    .rept 32
    STUB_ADDR exc, %v
    .set v, v + 1
    .endr

    .globl irq_stubs
irq_stubs:
    .set v, IRQ_FIRST_VECTOR
    .rept IRQ_VECTOR_COUNT
    STUB_ADDR irq, %v
    .set v, v + 1
    .endr

    .section .note.GNU-stack, "", @progbits
