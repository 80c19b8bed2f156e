#include "pci.h"
#include "console.h"
#include "cpu.h"
#include "paging.h"

#define CONFIG_ADDRESS 0xCF8
#define CONFIG_DATA 0xCFC

#define MMIO32_WINDOW_START 0xE0000000UL
#define MMIO32_WINDOW_END 0xFEC00000UL       /* IOAPIC, LAPIC and firmware above */
#define MMIO64_WINDOW_START 0x8000000000UL   /* 512 GiB */
#define MAX_CAPABILITIES 48                  /* 192 bytes of list space / 4-byte minimum */

static void select_register(const struct pci_device *d, u16 off)
{
    outl(CONFIG_ADDRESS, 0x80000000U | (u32)d->bus << 16 | (u32)d->slot << 11 | (u32)d->func << 8 | (off & 0xFC));
}

u8 pci_read8(const struct pci_device *d, u16 off) { select_register(d, off); return inb(CONFIG_DATA + (off & 3)); }
u16 pci_read16(const struct pci_device *d, u16 off) { select_register(d, off); return inw(CONFIG_DATA + (off & 2)); }
u32 pci_read32(const struct pci_device *d, u16 off) { select_register(d, off); return inl(CONFIG_DATA); }
void pci_write8(const struct pci_device *d, u16 off, u8 v) { select_register(d, off); outb(CONFIG_DATA + (off & 3), v); }
void pci_write16(const struct pci_device *d, u16 off, u16 v) { select_register(d, off); outw(CONFIG_DATA + (off & 2), v); }
void pci_write32(const struct pci_device *d, u16 off, u32 v) { select_register(d, off); outl(CONFIG_DATA, v); }

/* Sizes BARs the standard way (write all ones, read the mask back, restore) with decoding off,
 * so a half-written BAR never decodes over something else. I/O BARs are recorded, not sized. */
static void size_bars(struct pci_device *d)
{
    u16 cmd = pci_read16(d, PCI_COMMAND);
    pci_write16(d, PCI_COMMAND, cmd & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
    for (int i = 0; i < 6; i++) {
        struct pci_bar *b = &d->bars[i];
        u16 off = PCI_BAR0 + 4 * i;
        u32 lo = pci_read32(d, off);
        if (lo & 1) {
            b->is_io = 1;
            b->base = lo & ~3U;
            continue;
        }
        b->is_64 = ((lo >> 1) & 3) == 2 && i < 5;
        b->prefetchable = (lo >> 3) & 1;
        pci_write32(d, off, 0xFFFFFFFF);
        u64 mask = pci_read32(d, off) & ~0xFUL;
        pci_write32(d, off, lo);
        u64 hi = 0, hi_mask = mask ? 0xFFFFFFFFUL : 0;
        if (b->is_64) {
            hi = pci_read32(d, off + 4);
            pci_write32(d, off + 4, 0xFFFFFFFF);
            hi_mask = pci_read32(d, off + 4);
            pci_write32(d, off + 4, (u32)hi);
        }
        mask |= hi_mask << 32;
        b->base = (hi << 32) | (lo & ~0xFU);
        b->size = mask ? ~mask + 1 : 0;     /* all-zero mask: BAR not implemented */
        if (b->is_64)
            i++;                        /* the upper half is not a BAR of its own */
    }
    pci_write16(d, PCI_COMMAND, cmd);
}

int pci_enumerate(struct pci_device *devs, int max)
{
    int n = 0;
    for (u8 slot = 0; slot < 32; slot++) {
        u8 functions = 1;
        for (u8 func = 0; func < functions; func++) {
            struct pci_device probe = { .bus = 0, .slot = slot, .func = func };
            u32 id = pci_read32(&probe, PCI_VENDOR_ID);
            if ((id & 0xFFFF) == 0xFFFF || (id & 0xFFFF) == 0)
                continue;
            u8 header = pci_read8(&probe, PCI_HEADER_TYPE);
            if (func == 0 && (header & 0x80))
                functions = 8;
            if (n == max) {
                kprintf("pci 00:%02x.%u ignored: more than %d functions\n", slot, func, max);
                continue;
            }
            struct pci_device *d = &devs[n++];
            *d = probe;
            d->vendor = (u16)id;
            d->device = (u16)(id >> 16);
            d->class_code = pci_read32(d, PCI_CLASS_REVISION) >> 8;
            d->header_type = header & 0x7F;
            if (d->header_type == 0) {
                d->subsystem = pci_read16(d, PCI_SUBSYSTEM_ID);
                size_bars(d);
            }
            kprintf("pci 00:%02x.%u %04x:%04x class %06x\n", slot, func, d->vendor, d->device, d->class_code);
        }
    }
    return n;
}

struct window {
    const char *name;
    u64 next, end;
};

static int overlaps(u64 a, u64 asize, u64 b, u64 bsize)
{
    return a < b + bsize && b < a + asize;
}

static int is_placed(const struct pci_bar *b)
{
    return !b->is_io && b->size && b->base;
}

/* The lowest size-aligned address in the window clear of every BAR already placed. */
static u64 allocate(struct window *w, u64 size, struct pci_device *devs, int n)
{
    u64 a = ALIGN_UP(w->next, size);
    for (int moved = 1; moved;) {
        moved = 0;
        for (int i = 0; i < n && !moved; i++)
            for (int j = 0; j < 6; j++) {
                const struct pci_bar *b = &devs[i].bars[j];
                if (is_placed(b) && overlaps(a, size, b->base, b->size)) {
                    a = ALIGN_UP(b->base + b->size, size);
                    moved = 1;
                    break;
                }
            }
    }
    if (a < w->next || a + size > w->end || a + size < a)
        return 0;
    w->next = a + size;
    return a;
}

static void phys_bits_window_end(struct window *w64)
{
    u32 a, b, c, d;
    cpuid(0x80000000, &a, &b, &c, &d);
    u32 bits = 36;
    if (a >= 0x80000008) {
        cpuid(0x80000008, &a, &b, &c, &d);
        bits = a & 0xFF;
    }
    w64->end = bits >= 64 ? ~0UL : 1UL << bits;
}

const char *pci_assign_bars(struct pci_device *devs, int n, int (*reassign)(const struct pci_device *d))
{
    struct window w32 = { "32-bit", MMIO32_WINDOW_START, MMIO32_WINDOW_END };
    struct window w64 = { "64-bit", MMIO64_WINDOW_START, 0 };
    phys_bits_window_end(&w64);

    /* Forget the placement of everything we are going to move, so it does not block itself. */
    for (int i = 0; i < n; i++)
        if (devs[i].header_type == 0 && reassign && reassign(&devs[i])) {
            pci_write16(&devs[i], PCI_COMMAND, pci_read16(&devs[i], PCI_COMMAND) & ~PCI_COMMAND_MEMORY);
            for (int j = 0; j < 6; j++)
                if (!devs[i].bars[j].is_io)
                    devs[i].bars[j].base = 0;
        }

    for (int i = 0; i < n; i++) {
        struct pci_device *d = &devs[i];
        int assigned = 0;
        for (int j = 0; j < 6; j++) {
            struct pci_bar *b = &d->bars[j];
            if (b->is_io || !b->size || b->base)
                continue;
            struct window *w = b->is_64 && w64.end > w64.next ? &w64 : &w32;
            u64 a = allocate(w, b->size, devs, n);
            if (!a && w == &w64)        /* the CPU's physical address width is too small */
                a = allocate(w = &w32, b->size, devs, n);
            if (!a) {
                kprintf("pci 00:%02x.%u bar%d: no room for 0x%lx bytes in the %s window\n", d->slot, d->func, j, b->size, w->name);
                return "BAR assignment: window exhausted";
            }
            u16 off = PCI_BAR0 + 4 * j;
            pci_write32(d, off, (u32)a | (pci_read32(d, off) & 0xF));
            if (b->is_64)
                pci_write32(d, off + 4, (u32)(a >> 32));
            b->base = a;
            b->assigned_by_guest = 1;
            assigned = 1;
            kprintf("pci 00:%02x.%u bar%d assigned 0x%lx size 0x%lx\n", d->slot, d->func, j, a, b->size);
        }
        if (assigned)
            pci_write16(d, PCI_COMMAND, pci_read16(d, PCI_COMMAND) | PCI_COMMAND_MEMORY);
    }
    return NULL;
}

u8 pci_find_capability(const struct pci_device *d, u8 id, u8 after)
{
    if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
        return 0;
    u8 pos = after ? pci_read8(d, after + 1) : pci_read8(d, PCI_CAPABILITY_LIST);
    for (int guard = 0; guard < MAX_CAPABILITIES && pos >= 0x40; guard++) {
        pos &= 0xFC;
        if (pci_read8(d, pos) == id)
            return pos;
        pos = pci_read8(d, pos + 1);
    }
    return 0;
}

const char *pci_bar_region(const struct pci_device *d, u8 bar, u64 off, u64 len, u64 *addr)
{
    if (bar >= 6)
        return "capability names a BAR index above 5";
    const struct pci_bar *b = &d->bars[bar];
    if (b->is_io)
        return "capability names an I/O BAR";
    if (!b->size || !b->base)
        return "capability names an unimplemented or unassigned BAR";
    if (off > b->size || len > b->size - off)
        return "capability range runs past the end of its BAR";
    const char *err = paging_map_mmio(b->base, b->size);
    if (err)
        return err;
    *addr = b->base + off;
    return NULL;
}
