/*
 * jvmm's freestanding test guest. vCPU 0 checks the machine step by step, one console line per
 * step, and ends through the debug-exit port with PASS (0x10) or FAIL (0x11); every other vCPU
 * reports its APIC id and halts. See ../README.md for the output and the boot contract.
 */
#include "apic.h"
#include "blk_bench.h"
#include "bootinfo.h"
#include "console.h"
#include "cpu.h"
#include "guest.h"
#include "lib.h"
#include "pci.h"
#include "testdev.h"
#include "ivshmem.h"
#include "vectors.h"
#include "virtio.h"
#include "virtio_blk.h"
#include "virtio_fs.h"
#include "virtio_9p.h"
#include "virtio_rng.h"
#include "wait.h"

#define MAX_DRIVEN_DEVICES 8
#define AP_WAIT_TICKS 200               /* 2 s for the other vCPUs to check in */

extern char __image_start[], __image_end[];   /* guest.ld */

/* Written by the other vCPUs, read by vCPU 0. */
static volatile u32 ap_apic_id[MAX_CPUS];
static volatile u32 ap_arrived[MAX_CPUS];

static struct bootinfo boot;
static struct pci_device pci_devices[PCI_MAX_DEVICES];
static struct virtio_device virtio_devices[MAX_DRIVEN_DEVICES];
static int reassign_virtio_bars;
static struct virtio_device *first_blk;    /* the device bench=N reads from */
static struct fs_options fs_options;
static u32 rng_mask_cycles;     /* rng-mask-cycles=N */
static struct p9_options p9_options;
static int p9_checked;
static u8 *fs_buffer;                      /* RAM for the fs check, found in the memory map */
static int fs_checked;
static int ivshmem_mode;                   /* ivshmem: ring another guest through ivshmem-doorbell */
static int testdev_mode;                   /* testdev: check jvmm-testdev with the host's help */

NORETURN void guest_main(u64 cpu, u64 zero_page, u64 ncpus, u64 pvh_start_info);

static NORETURN void ap_main(u64 cpu)
{
    if (cpu < MAX_CPUS) {
        ap_apic_id[cpu] = apic_current_id();
        barrier();                      /* the id is visible before the flag (x86 TSO) */
        ap_arrived[cpu] = 1;
    }
    halt_forever();                     /* IF=0: never woken again, as intended */
}

/* Not inlined, so check-insns.sh can allow its deliberate int3 and ud2 by function name. */
static __attribute__((noinline)) NORETURN void run_fault(const char *mode)
{
    if (str_eq(mode, "triple")) {
        kprintf("fault: empty IDT, then ud2: expect a triple fault\n");
        cli();
        idt_load_empty();
        __asm__ volatile("ud2");
    } else if (str_eq(mode, "int3")) {
        kprintf("fault: executing int3 (PVM cannot emulate it)\n");
        __asm__ volatile("int3");
    } else {
        guest_fail("unknown fault mode '%s' (known: triple, int3)", mode);
    }
    guest_fail("fault mode '%s' did not stop the guest", mode);
}

static int reassign(const struct pci_device *d)
{
    return reassign_virtio_bars && (virtio_type(d) >= 0 || testdev_match(d));
}

static void make_tag(char *tag, const char *name, const struct pci_device *d)
{
    static const char hex[] = "0123456789abcdef";
    int n = 0;
    while (*name && n < 6)
        tag[n++] = *name++;
    tag[n++] = ' ';
    tag[n++] = '0';
    tag[n++] = '0';
    tag[n++] = ':';
    tag[n++] = hex[d->slot >> 4];
    tag[n++] = hex[d->slot & 15];
    tag[n++] = '.';
    tag[n++] = (char)('0' + d->func);
    tag[n] = 0;
}

/* Sets up and checks the first virtio-fs device when fs=FILE asks for it. */
static void drive_fs(struct virtio_device *v, const struct pci_device *d, u8 first_vector, u8 bsp_apic)
{
    const char *err = virtio_setup(v, d, FS_QUEUES, first_vector, bsp_apic);
    if (err)
        guest_fail("%s: %s", v->tag, err);
    kprintf("virtio %s: queues 0-1 size %u %u, msix vectors 0x%x 0x%x\n", v->tag, v->q[0].size, v->q[1].size,
            v->q[0].vector, v->q[1].vector);
    if ((err = virtio_fs_test(v, &fs_options, fs_buffer)))
        guest_fail("%s: %s", v->tag, err);
    fs_checked = 1;
}

/* Sets up and checks every virtio device we have a test for; counts how many were checked per
 * type (index: virtio type, bounded). Returns the first MSI vector it left free. */
static u8 drive_virtio(int npci, u8 bsp_apic, u32 *checked, int ntypes)
{
    int driven = 0;
    u8 next_vector = MSI_FIRST_VECTOR;  /* one per queue, in the order devices are driven */
    for (int i = 0; i < npci; i++) {
        const struct pci_device *d = &pci_devices[i];
        int type = virtio_type(d);
        if (type < 0)
            continue;
        int fs = type == VIRTIO_TYPE_FS && fs_options.enabled;
        int p9 = type == VIRTIO_TYPE_9P && p9_options.enabled && !p9_checked;
        if (type != VIRTIO_TYPE_BLOCK && type != VIRTIO_TYPE_RNG && !fs && !p9) {
            kprintf("virtio 00:%02x.%u %s: no check for this type yet\n", d->slot, d->func, virtio_type_name(type));
            continue;
        }
        if (fs && fs_checked) {
            kprintf("virtio 00:%02x.%u fs: not checked, fs=FILE checks the first one\n", d->slot, d->func);
            continue;
        }
        if (driven == MAX_DRIVEN_DEVICES) {
            kprintf("virtio 00:%02x.%u: ignored, more than %d devices\n", d->slot, d->func, MAX_DRIVEN_DEVICES);
            continue;
        }
        struct virtio_device *v = &virtio_devices[driven];
        u8 vector = next_vector;
        driven++;
        make_tag(v->tag, virtio_type_name(type), d);
        if (fs) {
            next_vector += FS_QUEUES;
            drive_fs(v, d, vector, bsp_apic);
        } else {
            next_vector++;
            const char *err = virtio_setup(v, d, 1, vector, bsp_apic);
            if (err)
                guest_fail("%s: %s", v->tag, err);
            kprintf("virtio %s: queue 0 size %u, msix vector 0x%x\n", v->tag, v->q[0].size, vector);
            err = type == VIRTIO_TYPE_BLOCK ? virtio_blk_test(v) : p9 ? virtio_9p_test(v, &p9_options) : virtio_rng_test(v);
            if (p9 && !err)
                p9_checked = 1;
            if (!err && type == VIRTIO_TYPE_RNG && rng_mask_cycles)
                err = virtio_rng_mask_cycles(v, rng_mask_cycles);
            if (err)
                guest_fail("%s: %s", v->tag, err);
            if (type == VIRTIO_TYPE_BLOCK && !first_blk)
                first_blk = v;
        }
        if (type < ntypes)
            checked[type]++;
    }
    if (p9_options.enabled && !p9_checked)
        guest_fail("p9=%s needs a virtio-9p device, and none was found", p9_options.file);
    if (fs_options.enabled && !fs_checked)
        guest_fail("fs=%s needs a virtio-fs device, and none was found", fs_options.file);
    return next_vector;
}

/* fs=FILE: the options, and RAM for its buffer above the image (2 MiB-aligned, so user-mode
 * access can be granted with 2 MiB pages without exposing anything else). */
static void fs_prepare(void)
{
    const char *err = virtio_9p_options(&boot, &p9_options);
    if (err)
        guest_fail("%s", err);
    err = virtio_fs_options(&boot, &fs_options);
    if (err)
        guest_fail("%s", err);
    if (!fs_options.enabled)
        return;
    u64 at = bootinfo_find_ram(&boot, FS_BUFFER_BYTES, 2 * MIB, (u64)__image_end);
    if (!at)
        guest_fail("fs: no %lu MiB of RAM above the image below 4 GiB for the buffer (memory map from %s)",
                   FS_BUFFER_BYTES / MIB, boot.source);
    fs_buffer = (u8 *)at;
}

/* require=blk,rng: fail unless a device of each named type was checked (`testdev`: the
 * jvmm-testdev check ran). */
static void check_required(const u32 *checked, int ntypes)
{
    char list[64];
    if (!bootinfo_option(&boot, "require", list, sizeof(list)))
        return;
    for (char *p = list; *p;) {
        char *name = p;
        while (*p && *p != ',')
            p++;
        if (*p)
            *p++ = 0;
        int found = str_eq(name, "testdev") && testdev_mode;
        for (int t = 0; t < ntypes; t++)
            if (str_eq(name, virtio_type_name(t)) && checked[t])
                found = 1;
        if (!found)
            guest_fail("required virtio device '%s' was not found or not checked", name);
    }
}

/* rng-mask-cycles=N (1..1000000): 0 when absent; malformed fails at once. */

static u32 rng_mask_cycles_option(void)
{
    char value[16];
    u32 cycles;
    if (!bootinfo_option(&boot, "rng-mask-cycles", value, sizeof(value)))
        return 0;
    if (!parse_u32(value, 1000000, &cycles) || cycles == 0)
        guest_fail("rng-mask-cycles=%s: expected a number of cycles in 1..1000000", value);
    return cycles;
}

/* bench=N (1..BLK_BENCH_MAX_READS): 0 when absent; a malformed value fails at once, before any
 * device work, so a typo cannot pass as a run without a benchmark. */
static u32 bench_reads_option(void)
{
    char value[16];
    u32 reads;
    if (!bootinfo_option(&boot, "bench", value, sizeof(value)))
        return 0;
    if (!parse_u32(value, BLK_BENCH_MAX_READS, &reads) || reads == 0)
        guest_fail("bench=%s: expected a number of reads in 1..%u", value, BLK_BENCH_MAX_READS);
    return reads;
}

static void run_bench(u32 reads)
{
    if (!first_blk)
        guest_fail("bench=%u needs a virtio-blk device, and none was found", reads);
    const char *err = blk_bench_run(first_blk, reads);
    if (err)
        guest_fail("%s: bench: %s", first_blk->tag, err);
}

static int aps_arrived(void *arg)
{
    u64 n = *(u64 *)arg;
    for (u64 i = 1; i < n; i++)
        if (!ap_arrived[i])
            return 0;
    return 1;
}

static void check_cpus(u64 ncpus, u32 bsp_apic)
{
    wait_until(aps_arrived, &ncpus, AP_WAIT_TICKS);
    kprintf("cpus: apic ids %u", bsp_apic);
    for (u64 i = 1; i < ncpus; i++)
        if (ap_arrived[i])
            kprintf(" %u", ap_apic_id[i]);
    kprintf("\n");
    for (u64 i = 1; i < ncpus; i++)
        if (!ap_arrived[i])
            guest_fail("vCPU %lu did not check in within %u ms", i, AP_WAIT_TICKS * TIMER_TICK_MS);
}

static void report_interrupts(void)
{
    u32 total = 0;
    for (unsigned v = IRQ_FIRST_VECTOR; v < IRQ_FIRST_VECTOR + IRQ_VECTOR_COUNT; v++)
        if (v != TIMER_VECTOR)
            total += irq_count(v);
    kprintf("irqs: %u", total);
    for (unsigned v = IRQ_FIRST_VECTOR; v < IRQ_FIRST_VECTOR + IRQ_VECTOR_COUNT; v++)
        if (v != TIMER_VECTOR && irq_count(v))
            kprintf(" 0x%x=%u", v, irq_count(v));
    kprintf("\ntimer: %u ticks\n", irq_count(TIMER_VECTOR));
}

NORETURN void guest_main(u64 cpu, u64 zero_page, u64 ncpus, u64 pvh_start_info)
{
    if (cpu != 0)
        ap_main(cpu);
    console_init();
    kprintf("jvmm-guest: start cpus=%lu\n", ncpus);
    if (ncpus == 0 || ncpus > MAX_CPUS)
        guest_fail("vCPU count %lu (RDX) is outside 1..%d", ncpus, MAX_CPUS);

    const char *err = bootinfo_parse(zero_page, pvh_start_info, &boot);
    if (err)
        guest_fail("boot info: %s", err);
    if (boot.nranges) {
        kprintf("mem: e820 entries=%u ram=%lu MiB from %s\n", boot.nranges, bootinfo_ram_bytes(&boot) / MIB, boot.source);
        u64 start = (u64)__image_start, size = (u64)(__image_end - __image_start);
        if (!bootinfo_is_ram(&boot, start, size))
            guest_fail("image 0x%lx-0x%lx is not inside one e820 RAM range", start, start + size);
    } else {
        kprintf("mem: no memory map from the loader\n");
    }
    if (boot.cmdline[0])
        kprintf("cmdline: %s\n", boot.cmdline);
    reassign_virtio_bars = bootinfo_option(&boot, "reassign-bars", NULL, 0);
    testdev_mode = bootinfo_option(&boot, "testdev", NULL, 0);
    ivshmem_mode = bootinfo_option(&boot, "ivshmem", NULL, 0);
    u32 bench_reads = bench_reads_option();
    rng_mask_cycles = rng_mask_cycles_option();
    fs_prepare();

    idt_init();
    if ((err = apic_init()))
        guest_fail("apic: %s", err);
    u32 bsp_apic = apic_current_id();
    char mode[16];
    if (bootinfo_option(&boot, "fault", mode, sizeof(mode)))
        run_fault(mode);
    apic_timer_start();
    sti();

    int npci = pci_enumerate(pci_devices, PCI_MAX_DEVICES);
    if ((err = pci_assign_bars(pci_devices, npci, reassign)))
        guest_fail("pci: %s", err);
    u32 checked[32] = { 0 };
    u8 free_vector = drive_virtio(npci, (u8)bsp_apic, checked, 32);
    if (testdev_mode)
        testdev_run(pci_devices, npci, free_vector, (u8)bsp_apic);
    if (ivshmem_mode)
        ivshmem_run(pci_devices, npci, free_vector, (u8)bsp_apic);
    check_required(checked, 32);
    check_cpus(ncpus, bsp_apic);
    if (bench_reads)
        run_bench(bench_reads);

    apic_timer_stop();
    cli();
    report_interrupts();
    guest_pass();
}
