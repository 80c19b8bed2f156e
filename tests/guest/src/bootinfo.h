/* What the loader tells us: the memory map and the command line, from either boot path. */
#ifndef GUEST_BOOTINFO_H
#define GUEST_BOOTINFO_H

#include "types.h"

#define BOOTINFO_MAX_RANGES 128
#define BOOTINFO_CMDLINE_MAX 256
#define E820_RAM 1

struct mem_range {
    u64 base;
    u64 size;
    u32 type;
};

struct bootinfo {
    const char *source;                 /* "boot_params", "pvh start_info" or "none" */
    u32 nranges;
    struct mem_range ranges[BOOTINFO_MAX_RANGES];
    char cmdline[BOOTINFO_CMDLINE_MAX];
};

/* Fills bi from a Linux zero page (jvmm's 64-bit entry) or from a PVH hvm_start_info (QEMU's PVH
 * boot); either address may be 0. Returns NULL or what is malformed. */
const char *bootinfo_parse(u64 zero_page, u64 pvh_start_info, struct bootinfo *bi);
/* Total bytes of E820_RAM ranges. */
u64 bootinfo_ram_bytes(const struct bootinfo *bi);
/* Whether [base, base+size) lies inside one RAM range. */
int bootinfo_is_ram(const struct bootinfo *bi, u64 base, u64 size);
/* The lowest address >= above, aligned to align (a power of two), where size bytes of RAM lie
 * inside one range below 4 GiB (the identity map); 0 if there is none. */
u64 bootinfo_find_ram(const struct bootinfo *bi, u64 size, u64 align, u64 above);
/* Whether the command line has the word `word`, or `word=` with a value; the value (up to the
 * next space) is copied into value when value_len > 0. */
int bootinfo_option(const struct bootinfo *bi, const char *word, char *value, usize value_len);

#endif
