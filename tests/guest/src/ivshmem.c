#include "ivshmem.h"
#include "apic.h"
#include "console.h"
#include "cpu.h"
#include "guest.h"
#include "msix.h"
#include "vectors.h"
#include "wait.h"

#define PEER_WAIT_TICKS 3000            /* 30 s for the other guest to come up */
#define RING_WAIT_TICKS 1000            /* 10 s for each interrupt of the exchange */

static u64 regs;                        /* BAR0 */
static u64 shm;                         /* BAR2 */

static NORETURN void failed(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "ivshmem: <check> FAIL <detail>", then the guest's FAIL line and exit. */
static NORETURN void failed(const char *check, const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    kprintf("ivshmem: %s FAIL ", check);
    kvprintf(fmt, ap);
    __builtin_va_end(ap);
    kprintf("\n");
    guest_fail("ivshmem: %s", check);
}

static const struct pci_device *find(const struct pci_device *devs, int n)
{
    for (int i = 0; i < n; i++)
        if (devs[i].vendor == IVSHMEM_VENDOR && devs[i].device == IVSHMEM_DEVICE && devs[i].header_type == 0)
            return &devs[i];
    return NULL;
}

static void map_bars(const struct pci_device *d)
{
    const struct pci_bar *b2 = &d->bars[2];
    const char *err = pci_bar_region(d, 0, 0, 256, &regs);
    if (err)
        failed("bars", "bar0: %s", err);
    if (!b2->is_64 || !b2->prefetchable || b2->size < 4096)
        failed("bars", "bar2 is not a 64-bit prefetchable memory BAR of at least 4 KiB");
    if ((err = pci_bar_region(d, 2, 0, b2->size < 0x40000 ? b2->size : 0x40000, &shm)))
        failed("bars", "bar2: %s", err);
    pci_write16(d, PCI_COMMAND, pci_read16(d, PCI_COMMAND) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    kprintf("ivshmem 00:%02x.%u: bar0 0x%lx bar2 0x%lx size 0x%lx\n", d->slot, d->func, d->bars[0].base, b2->base, b2->size);
}

struct peer_wait {
    u32 self;
    u32 peer;
};

static int peer_present(void *arg)
{
    struct peer_wait *w = arg;
    for (u32 id = 0; id < IVSHMEM_MAX_ID; id++) {
        if (id != w->self && mmio_read32(shm + IVSHMEM_SLOTS + 4 * id) == IVSHMEM_PRESENT) {
            w->peer = id;
            return 1;
        }
    }
    return 0;
}

struct irq_wait {
    u8 vector;
    u32 target;
};

static int irqs_reached(void *arg)
{
    const struct irq_wait *w = arg;
    return irq_count(w->vector) >= w->target;
}

static void ring(u32 peer)
{
    mmio_write32(regs + IVSHMEM_REG_DOORBELL, peer << 16);
}

/* ivshmem-plain: the host's words read, ours written for the host. */
static void plain(const struct pci_device *d)
{
    if (d->bars[2].size < IVSHMEM_PLAIN_GUEST_OFFSET + 4 * IVSHMEM_PLAIN_GUEST_WORDS)
        failed("plain", "bar2 is 0x%lx bytes, the check needs 0x%x", d->bars[2].size,
               IVSHMEM_PLAIN_GUEST_OFFSET + 4 * IVSHMEM_PLAIN_GUEST_WORDS);
    for (u32 i = 0; i < IVSHMEM_PLAIN_HOST_WORDS; i++) {
        u32 got = mmio_read32(shm + (u64)i * IVSHMEM_PLAIN_HOST_STRIDE), want = IVSHMEM_PLAIN_HOST_BASE + i;
        if (got != want)
            failed("plain", "word %u at bar2+0x%x reads 0x%x, the host wrote 0x%x", i, i * IVSHMEM_PLAIN_HOST_STRIDE, got, want);
    }
    for (u32 i = 0; i < IVSHMEM_PLAIN_GUEST_WORDS; i++)
        mmio_write32(shm + IVSHMEM_PLAIN_GUEST_OFFSET + 4 * i, IVSHMEM_PLAIN_GUEST_BASE + i);
    kprintf("ivshmem: plain PASS %u host words read, %u words written at bar2+0x%x\n", IVSHMEM_PLAIN_HOST_WORDS,
            IVSHMEM_PLAIN_GUEST_WORDS, IVSHMEM_PLAIN_GUEST_OFFSET);
}

void ivshmem_run(const struct pci_device *devs, int n, u8 vector, u8 bsp_apic)
{
    const struct pci_device *d = find(devs, n);
    if (!d)
        failed("found", "no %04x:%04x device on bus 0", IVSHMEM_VENDOR, IVSHMEM_DEVICE);
    map_bars(d);
    if (!pci_find_capability(d, PCI_CAP_ID_MSIX, 0)) {
        plain(d);
        return;
    }
    u32 self = mmio_read32(regs + IVSHMEM_REG_IVPOSITION);
    if ((int)self < 0 || self >= IVSHMEM_MAX_ID)
        failed("position", "IVPosition reads %d (a half-realised device reads -1; ids 0..%d are expected)", (int)self,
               IVSHMEM_MAX_ID - 1);
    kprintf("ivshmem: position PASS id %u\n", self);

    struct msix m;
    const char *err = msix_init(&m, d);
    if (err || (err = msix_route(&m, 0, vector, bsp_apic)))
        failed("msix", "%s", err);
    msix_enable(&m);
    mmio_write32(shm + IVSHMEM_SLOTS + 4 * self, IVSHMEM_PRESENT);

    struct peer_wait pw = { self, 0 };
    if (!wait_until(peer_present, &pw, PEER_WAIT_TICKS))
        failed("peer", "no other guest wrote its slot within %u ms", PEER_WAIT_TICKS * TIMER_TICK_MS);
    kprintf("ivshmem: peer PASS id %u\n", pw.peer);

    /* In turn, so no doorbell is rung while the last one is still pending (an eventfd would merge them). */
    u32 before = irq_count(vector);
    int first = self < pw.peer;
    u32 start = apic_ticks();
    for (u32 i = 1; i <= IVSHMEM_ROUNDS; i++) {
        struct irq_wait w = { vector, before + i };
        if (first)
            ring(pw.peer);
        if (!wait_until(irqs_reached, &w, RING_WAIT_TICKS))
            failed("exchange", "round %u: no interrupt from peer %u within %u ms (%u taken)", i, pw.peer,
                   RING_WAIT_TICKS * TIMER_TICK_MS, irq_count(vector) - before);
        if (!first)
            ring(pw.peer);
    }
    u32 taken = irq_count(vector) - before;
    mmio_write32(shm + IVSHMEM_COUNTS + 4 * self, taken);
    if (taken != IVSHMEM_ROUNDS)
        failed("exchange", "took %u interrupts, rang and expected %u", taken, IVSHMEM_ROUNDS);
    kprintf("ivshmem: exchange PASS id %u peer %u interrupts %u rang %u in %u ticks\n", self, pw.peer, taken, IVSHMEM_ROUNDS,
            apic_ticks() - start);
}
