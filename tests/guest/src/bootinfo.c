#include "bootinfo.h"

/* Linux boot_params (Documentation/arch/x86/zero-page.rst). */
#define ZP_EXT_CMD_LINE_PTR 0x0C8
#define ZP_E820_ENTRIES 0x1E8
#define ZP_CMD_LINE_PTR 0x228
#define ZP_E820_TABLE 0x2D0
#define ZP_E820_ENTRY_SIZE 20
#define ZP_E820_MAX 128

/* Xen's hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#define PVH_MAGIC 0x336EC578
#define PVH_VERSION 0x04
#define PVH_CMDLINE_PADDR 0x18
#define PVH_MEMMAP_PADDR 0x28
#define PVH_MEMMAP_ENTRIES 0x30
#define PVH_MEMMAP_ENTRY_SIZE 24

static u32 rd32(u64 a) { return *(const volatile u32 *)a; }
static u64 rd64(u64 a) { return *(const volatile u64 *)a; }

/* Only the identity-mapped low 4 GiB is readable before paging.c maps more; loader structures
 * live far below that in both boot paths. */
static int readable(u64 a, u64 len)
{
    return a != 0 && a < 4 * GIB && len <= 4 * GIB - a;
}

static void copy_cmdline(struct bootinfo *bi, u64 addr)
{
    usize n = 0;
    if (readable(addr, BOOTINFO_CMDLINE_MAX)) {
        const volatile char *s = (const volatile char *)addr;
        while (n < BOOTINFO_CMDLINE_MAX - 1 && s[n])
            bi->cmdline[n] = s[n], n++;
    }
    bi->cmdline[n] = 0;
}

static const char *parse_zero_page(u64 zp, struct bootinfo *bi)
{
    u32 n = *(const volatile u8 *)(zp + ZP_E820_ENTRIES);
    if (n > ZP_E820_MAX)
        return "boot_params e820_entries is above 128";
    for (u32 i = 0; i < n; i++) {
        u64 e = zp + ZP_E820_TABLE + i * ZP_E820_ENTRY_SIZE;
        bi->ranges[i].base = rd64(e);
        bi->ranges[i].size = rd64(e + 8);
        bi->ranges[i].type = rd32(e + 16);
    }
    bi->nranges = n;
    copy_cmdline(bi, (u64)rd32(zp + ZP_CMD_LINE_PTR) | ((u64)rd32(zp + ZP_EXT_CMD_LINE_PTR) << 32));
    bi->source = "boot_params";
    return NULL;
}

static const char *parse_pvh(u64 si, struct bootinfo *bi)
{
    if (rd32(si) != PVH_MAGIC)
        return "hvm_start_info magic is wrong";
    if (rd32(si + 4) >= 1) {             /* the memory map arrived in version 1 */
        u64 map = rd64(si + PVH_MEMMAP_PADDR);
        u32 n = rd32(si + PVH_MEMMAP_ENTRIES);
        if (n > BOOTINFO_MAX_RANGES || (n && !readable(map, (u64)n * PVH_MEMMAP_ENTRY_SIZE)))
            return "hvm_start_info memory map is too large or unreadable";
        for (u32 i = 0; i < n; i++) {
            u64 e = map + i * PVH_MEMMAP_ENTRY_SIZE;
            bi->ranges[i].base = rd64(e);
            bi->ranges[i].size = rd64(e + 8);
            bi->ranges[i].type = rd32(e + 16);
        }
        bi->nranges = n;
    }
    copy_cmdline(bi, rd64(si + PVH_CMDLINE_PADDR));
    bi->source = "pvh start_info";
    return NULL;
}

const char *bootinfo_parse(u64 zero_page, u64 pvh_start_info, struct bootinfo *bi)
{
    bi->source = "none";
    bi->nranges = 0;
    bi->cmdline[0] = 0;
    if (zero_page) {
        if (!readable(zero_page, 4096))
            return "zero page address (RSI) is not below 4 GiB";
        return parse_zero_page(zero_page, bi);
    }
    if (pvh_start_info) {
        if (!readable(pvh_start_info, 56))
            return "hvm_start_info address (EBX) is not below 4 GiB";
        return parse_pvh(pvh_start_info, bi);
    }
    return NULL;
}

u64 bootinfo_ram_bytes(const struct bootinfo *bi)
{
    u64 sum = 0;
    for (u32 i = 0; i < bi->nranges; i++)
        if (bi->ranges[i].type == E820_RAM)
            sum += bi->ranges[i].size;
    return sum;
}

int bootinfo_is_ram(const struct bootinfo *bi, u64 base, u64 size)
{
    for (u32 i = 0; i < bi->nranges; i++) {
        const struct mem_range *r = &bi->ranges[i];
        if (r->type == E820_RAM && base >= r->base && base - r->base <= r->size && size <= r->size - (base - r->base))
            return 1;
    }
    return 0;
}

u64 bootinfo_find_ram(const struct bootinfo *bi, u64 size, u64 align, u64 above)
{
    u64 best = 0;
    for (u32 i = 0; i < bi->nranges; i++) {
        const struct mem_range *r = &bi->ranges[i];
        if (r->type != E820_RAM || r->base + r->size < r->base)
            continue;
        u64 start = ALIGN_UP(r->base > above ? r->base : above, align);
        u64 end = r->base + r->size < 4 * GIB ? r->base + r->size : 4 * GIB;
        if (start >= r->base && start < end && end - start >= size && (!best || start < best))
            best = start;
    }
    return best;
}

int bootinfo_option(const struct bootinfo *bi, const char *word, char *value, usize value_len)
{
    const char *p = bi->cmdline;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *w = word, *q = p;
        while (*w && *q == *w)
            q++, w++;
        if (!*w && (*q == 0 || *q == ' ' || *q == '=')) {
            if (value_len) {
                usize n = 0;
                if (*q == '=')
                    for (q++; *q && *q != ' ' && n + 1 < value_len; q++)
                        value[n++] = *q;
                value[n] = 0;
            }
            return 1;
        }
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}
