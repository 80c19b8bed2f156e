/* Fixed-width types and small helpers for a freestanding guest (no libc headers). */
#ifndef GUEST_TYPES_H
#define GUEST_TYPES_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;
typedef int i32;
typedef long i64;
typedef unsigned long usize;

#define NULL ((void *)0)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((u64)(a) - 1)) & ~((u64)(a) - 1))
#define NORETURN __attribute__((noreturn))
#define PACKED __attribute__((packed))
#define ALIGNED(n) __attribute__((aligned(n)))

#define KIB 1024UL
#define MIB (1024UL * KIB)
#define GIB (1024UL * MIB)

/* Compiler barrier. x86 keeps stores ordered (TSO), so this is all the ring protocol needs
 * between filling a descriptor and publishing the avail index. */
#define barrier() __asm__ volatile("" ::: "memory")

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#endif
