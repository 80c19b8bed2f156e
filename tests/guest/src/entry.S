/*
 * The two ways in.
 *
 * _start64 (the ELF entry, e_entry) is jvmm's direct boot: long mode, paging on with 0-4 GiB
 * identity-mapped, flat GDT, interrupts off, %rdi = vCPU index, %rsi = zero page, %rdx = number
 * of vCPUs, %rsp = this vCPU's stack. Every vCPU enters here. We switch to our own page tables
 * (same identity map, plus room for 64-bit BARs above 4 GiB) and call
 * guest_main(cpu, zero_page, ncpus, pvh_start_info = 0).
 *
 * pvh_start32 (named by the Xen PHYS32_ENTRY note) is the PVH boot QEMU does with -kernel:
 * 32-bit protected mode, paging off, %ebx = hvm_start_info. We load our GDT and page tables,
 * enter long mode and call guest_main(0, 0, 1, start_info).
 *
 * The page tables are assembled into .data, so neither path spends (emulated) instructions
 * building them.
 */

#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)
#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_PAE (1 << 5)
#define PTE_P_W 0x3                 /* present, writable */
#define PDE_2M_P_W 0x83             /* present, writable, 2 MiB page */
#define CODE64_SEL 0x08
#define DATA_SEL 0x10

    .section .text.entry, "ax"
    .code64
    .globl _start64
_start64:
    cli
    movq $boot_pml4, %rax
    movq %rax, %cr3
    andq $-16, %rsp                 /* SysV alignment for the call */
    xorl %ecx, %ecx                 /* no PVH start_info */
    call guest_main
1:  cli
    hlt
    jmp 1b

    .code32
    .globl pvh_start32
pvh_start32:
    cli
    cld
    movl %ebx, %esi                 /* hvm_start_info, kept for guest_main */
    lgdt boot_gdt_pointer
    movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movl $pvh_stack_top, %esp

    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0
    ljmp $CODE64_SEL, $pvh_long64

    .code64
pvh_long64:
    movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movq $pvh_stack_top, %rsp
    movl %esi, %ecx                 /* pvh_start_info (zero-extended) */
    xorl %edi, %edi                 /* vCPU 0 */
    xorl %esi, %esi                 /* no zero page */
    movl $1, %edx                   /* one vCPU: QEMU's PVH boot starts only the BSP */
    call guest_main
1:  cli
    hlt
    jmp 1b

/* XEN_ELFNOTE_PHYS32_ENTRY: QEMU boots an ELF carrying it with PVH. The descriptor is 8 bytes,
 * as in Linux (QEMU reads a pointer-sized value for ELF64); namesz 4 keeps it 4-byte aligned. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                         /* namesz */
    .long 8                         /* descsz */
    .long 18                        /* type: XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .balign 4
    .quad pvh_start32

    .section .rodata
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF        /* 0x08: 64-bit code */
    .quad 0x00CF92000000FFFF        /* 0x10: flat data */
    .quad 0x00CF9A000000FFFF        /* 0x18: 32-bit code */
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt                  /* lgdt in 32-bit mode reads the low 4 bytes */

    .section .data.pagetables, "aw"
    .balign 4096
    .globl boot_pml4
boot_pml4:
    .quad boot_pdpt + PTE_P_W
    .fill 511, 8, 0
boot_pdpt:
    .quad boot_pd + PTE_P_W
    .quad boot_pd + 0x1000 + PTE_P_W
    .quad boot_pd + 0x2000 + PTE_P_W
    .quad boot_pd + 0x3000 + PTE_P_W
    .fill 508, 8, 0
boot_pd:                            /* 4 x 512 2 MiB pages: 0 - 4 GiB */
    .set page, 0
    .rept 2048
    .quad (page << 21) + PDE_2M_P_W
    .set page, page + 1
    .endr

    .bss
    .balign 16
pvh_stack:
    .skip 16384
pvh_stack_top:

    .section .note.GNU-stack, "", @progbits
