#include "testdev.h"
#include "apic.h"
#include "console.h"
#include "cpu.h"
#include "guest.h"
#include "msix.h"
#include "vectors.h"
#include "wait.h"

#define DOORBELL_WAIT_TICKS 500         /* 5 s for the device to count the doorbells */
#define IRQ_WAIT_TICKS 1000             /* 10 s for the host to see "ready" and raise the vector */
#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_DATA 8
#define MSIX_ROUTE_WRITES 5             /* msix_route: control (mask), address lo and hi, data, control */

static u64 regs;                        /* BAR0 */
static u64 ram;                         /* BAR2 */
/* What the guest did, for the host to compare with what it saw: under KVM the BAR0 reads and the
 * MSI-X table (BAR1) exit to the VMM, while the doorbell writes (ioeventfds) and BAR2 (a memory
 * slot) must not; over vfio-user the BAR0 reads and the doorbells cross the socket. */
static u32 bar0_reads;
static u32 msix_accesses;
static u32 ram_accesses;

static u32 reg(u32 off)
{
    bar0_reads++;
    return mmio_read32(regs + off);
}

static u32 ram_word(u64 off)
{
    ram_accesses++;
    return mmio_read32(ram + off);
}

static void passed(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static NORETURN void failed(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "testdev: <check> PASS <detail>" */
static void passed(const char *check, const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    kprintf("testdev: %s PASS ", check);
    kvprintf(fmt, ap);
    __builtin_va_end(ap);
    kprintf("\n");
}

/* "testdev: <check> FAIL <detail>", then the guest's FAIL line and exit. */
static NORETURN void failed(const char *check, const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    kprintf("testdev: %s FAIL ", check);
    kvprintf(fmt, ap);
    __builtin_va_end(ap);
    kprintf("\n");
    guest_fail("testdev: %s", check);
}

int testdev_match(const struct pci_device *d)
{
    return d->vendor == TESTDEV_VENDOR && d->device == TESTDEV_DEVICE && d->header_type == 0;
}

static const struct pci_device *find(const struct pci_device *devs, int n)
{
    for (int i = 0; i < n; i++)
        if (testdev_match(&devs[i]))
            return &devs[i];
    return NULL;
}

/* BAR0 and BAR2 located (BAR2 mapped when above 4 GiB), decoding and bus mastering on. */
static void map_bars(const struct pci_device *d)
{
    const struct pci_bar *b2 = &d->bars[2];
    kprintf("testdev 00:%02x.%u: bar0 0x%lx bar2 0x%lx size 0x%lx%s%s\n", d->slot, d->func, d->bars[0].base,
            b2->base, b2->size, b2->is_64 ? " 64-bit" : " 32-bit", b2->prefetchable ? " prefetchable" : "");
    const char *err = pci_bar_region(d, 0, 0, TESTDEV_REGS_LEN, &regs);
    if (err)
        failed("bars", "bar0: %s", err);
    if (!b2->is_64 || !b2->prefetchable)
        failed("bars", "bar2 is not a 64-bit prefetchable memory BAR");
    if (b2->size < TESTDEV_MIN_RAM)
        failed("bars", "bar2 is 0x%lx bytes, the check needs 0x%x", b2->size, TESTDEV_MIN_RAM);
    if ((err = pci_bar_region(d, 2, 0, b2->size, &ram)))
        failed("bars", "bar2: %s", err);
    pci_write16(d, PCI_COMMAND, pci_read16(d, PCI_COMMAND) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

static void check_registers(const struct pci_device *d)
{
    u32 magic = reg(TESTDEV_REG_MAGIC);
    if (magic != TESTDEV_MAGIC)
        failed("magic", "read 0x%x, expected 0x%x", magic, TESTDEV_MAGIC);
    u32 size = reg(TESTDEV_REG_RAM_SIZE);
    if (size != (u32)d->bars[2].size)
        failed("magic", "the size register reads 0x%x, bar2 is 0x%lx bytes", size, d->bars[2].size);
    passed("magic", "0x%x, bar2 size register 0x%x", magic, size);
}

/* What the host wrote before the guest started. */
static void check_host_pattern(void)
{
    for (u32 i = 0; i < TESTDEV_HOST_WORDS; i++) {
        u32 got = ram_word((u64)i * TESTDEV_HOST_STRIDE), want = TESTDEV_HOST_BASE + i;
        if (got != want)
            failed("host-pattern", "word %u at bar2+0x%x reads 0x%x, expected 0x%x", i, i * TESTDEV_HOST_STRIDE, got, want);
    }
    passed("host-pattern", "%u words at %u-byte steps", TESTDEV_HOST_WORDS, TESTDEV_HOST_STRIDE);
}

/* What the host reads after the guest ends. */
static void write_guest_pattern(void)
{
    for (u32 i = 0; i < TESTDEV_GUEST_WORDS; i++)
        mmio_write32(ram + TESTDEV_GUEST_OFFSET + 4 * i, TESTDEV_GUEST_BASE + i);
    ram_accesses += TESTDEV_GUEST_WORDS;
    for (u32 i = 0; i < TESTDEV_GUEST_WORDS; i++) {
        u32 got = ram_word(TESTDEV_GUEST_OFFSET + 4 * i), want = TESTDEV_GUEST_BASE + i;
        if (got != want)
            failed("guest-pattern", "word %u at bar2+0x%x reads back 0x%x, expected 0x%x", i, TESTDEV_GUEST_OFFSET + 4 * i, got, want);
    }
    passed("guest-pattern", "%u words at bar2+0x%x written and read back", TESTDEV_GUEST_WORDS, TESTDEV_GUEST_OFFSET);
}

static int doorbells_reached(void *target)
{
    return reg(TESTDEV_REG_DOORBELLS) >= *(u32 *)target;
}

/* The device counts asynchronously (the eventfd is read on its own thread): poll, bounded. */
static void ring_doorbells(void)
{
    u32 before = reg(TESTDEV_REG_DOORBELLS);
    for (u32 i = 0; i < TESTDEV_DOORBELLS; i++)
        mmio_write32(regs + TESTDEV_REG_DOORBELL, i);
    u32 target = before + TESTDEV_DOORBELLS;
    int reached = wait_until(doorbells_reached, &target, DOORBELL_WAIT_TICKS);
    u32 count = reg(TESTDEV_REG_DOORBELLS);
    if (!reached || count != target)
        failed("doorbell", "rang %u, the device counts %u (%u before), expected %u%s", TESTDEV_DOORBELLS, count, before, target,
               reached ? "" : " within 5 s");
    passed("doorbell", "rang %u, the device counts %u", TESTDEV_DOORBELLS, count);
}

struct irq_wait {
    u8 vector;
    u32 before;
};

static int irq_arrived(void *arg)
{
    const struct irq_wait *w = arg;
    return irq_count(w->vector) != w->before;
}

/* MSI-X entry TESTDEV_MSIX_ENTRY -> vector, then the "ready" doorbell, then the host's interrupt
 * (and the token it wrote before raising it). */
static void take_interrupt(const struct pci_device *d, u8 vector, u8 bsp_apic)
{
    struct msix m;
    const char *err = msix_init(&m, d);
    if (err)
        failed("msix", "%s", err);
    u32 vectors = reg(TESTDEV_REG_VECTORS);
    if (vectors != m.entries || m.entries <= TESTDEV_MSIX_ENTRY)
        failed("msix", "the table has %u entries, the vectors register says %u, entry %u is needed", m.entries, vectors,
               TESTDEV_MSIX_ENTRY);
    if ((err = msix_route(&m, TESTDEV_MSIX_ENTRY, vector, bsp_apic)))
        failed("msix", "%s", err);
    msix_enable(&m);
    msix_accesses += MSIX_ROUTE_WRITES + 1;
    u32 data = mmio_read32(m.table + TESTDEV_MSIX_ENTRY * MSIX_ENTRY_SIZE + MSIX_ENTRY_DATA);
    if (data != vector)
        failed("msix", "entry %u's data reads back 0x%x, expected 0x%x", TESTDEV_MSIX_ENTRY, data, vector);
    u32 token = ram_word(TESTDEV_TOKEN_OFFSET);
    if (token != 0)
        failed("msix", "bar2+0x%x already holds 0x%x before the guest is ready", TESTDEV_TOKEN_OFFSET, token);
    passed("msix", "%u entries, entry %u -> vector 0x%x apic %u; ready for the host's interrupt", m.entries, TESTDEV_MSIX_ENTRY,
           vector, bsp_apic);

    struct irq_wait w = { vector, irq_count(vector) };
    mmio_write32(regs + TESTDEV_REG_DOORBELL, TESTDEV_DOORBELLS);   /* "ready" */
    u32 start = apic_ticks();
    if (!wait_until(irq_arrived, &w, IRQ_WAIT_TICKS))
        failed("interrupt", "no interrupt on vector 0x%x within %u ms of the ready doorbell (device counts %u doorbells)", vector,
               IRQ_WAIT_TICKS * TIMER_TICK_MS, reg(TESTDEV_REG_DOORBELLS));
    u32 ticks = apic_ticks() - start;
    token = ram_word(TESTDEV_TOKEN_OFFSET);
    if (token != TESTDEV_TOKEN)
        failed("interrupt", "after the interrupt bar2+0x%x holds 0x%x, expected the host's 0x%x", TESTDEV_TOKEN_OFFSET, token,
               TESTDEV_TOKEN);
    u32 count = reg(TESTDEV_REG_DOORBELLS), taken = irq_count(vector) - w.before;
    if (count != TESTDEV_DOORBELLS + 1)
        failed("interrupt", "the device counts %u doorbells, expected %u", count, TESTDEV_DOORBELLS + 1);
    if (taken != 1)
        failed("interrupt", "%u interrupts on vector 0x%x, the host raised one", taken, vector);
    passed("interrupt", "vector 0x%x after %u ticks, token 0x%x, doorbells %u", vector, ticks, token, count);
}

void testdev_run(const struct pci_device *devs, int n, u8 vector, u8 bsp_apic)
{
    const struct pci_device *d = find(devs, n);
    if (!d)
        failed("found", "no %04x:%04x device on bus 0", TESTDEV_VENDOR, TESTDEV_DEVICE);
    map_bars(d);
    check_registers(d);
    check_host_pattern();
    write_guest_pattern();
    ring_doorbells();
    take_interrupt(d, vector, bsp_apic);
    kprintf("testdev: accesses: bar0 reads %u, msix table %u, bar2 %u, doorbell writes %u\n", bar0_reads, msix_accesses,
            ram_accesses, TESTDEV_DOORBELLS + 1);
}
