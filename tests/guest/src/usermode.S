/*
 * usermode_call(fn, arg): run fn(arg) at CPL3 and come back with its result (see usermode.h).
 *
 * Kernel side: save the flags and callee-saved registers, remember the stack, and iretq to
 * usermode_enter at CPL3 on the user stack with IF set. User side: call fn(arg), then hlt at
 * usermode_exit_point, which raises #GP. usermode_gp_entry (IDT vector 13) sees that address
 * with a user CS, restores the kernel segments, stack and registers and returns to
 * usermode_call's caller with fn's result, still in %rax. Any other #GP goes to the ordinary
 * exception stub.
 */
#include "usermode.h"

#define USER_STACK_BYTES 16384
#define RFLAGS_USER 0x202                   /* IF, and the always-one bit 1 */

    .text
    .code64
    .globl usermode_call
usermode_call:                              /* %rdi = fn, %rsi = arg */
    pushfq
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, usermode_kernel_rsp(%rip)
    pushq $(USER_DS | USER_RPL)             /* ss */
    pushq $usermode_stack_top               /* rsp */
    pushq $RFLAGS_USER                      /* rflags */
    pushq $(USER_CS | USER_RPL)             /* cs */
    pushq $usermode_enter                   /* rip */
    iretq

usermode_enter:                             /* CPL3, %rsp 16-byte aligned */
    movq %rdi, %rax
    movq %rsi, %rdi
    call *%rax                              /* %rax = fn's result */
usermode_exit_point:
    hlt                                     /* #GP at CPL3: back to the kernel */

    .globl usermode_gp_entry
usermode_gp_entry:                          /* (%rsp) error code, 8 rip, 16 cs, 24 rflags, 32 rsp, 40 ss */
    pushq %rdx
    leaq usermode_exit_point(%rip), %rdx
    cmpq %rdx, 16(%rsp)
    popq %rdx
    jne 1f
    testb $USER_RPL, 16(%rsp)
    jz 1f
    movl $KERNEL_DS, %edx                   /* the CPL3 entry left null selectors behind */
    movl %edx, %ss
    movl %edx, %ds
    movl %edx, %es
    movq usermode_kernel_rsp(%rip), %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbp
    popq %rbx
    popfq
    ret
1:  jmpq *(exception_stubs + 8 * GP_VECTOR)(%rip)

    .bss
    .balign 8
usermode_kernel_rsp:
    .skip 8
    .balign 16
usermode_stack:
    .skip USER_STACK_BYTES
usermode_stack_top:

    .section .note.GNU-stack, "", @progbits
