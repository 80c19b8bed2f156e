#include "virtio.h"
#include "apic.h"
#include "console.h"
#include "cpu.h"
#include "vectors.h"
#include "wait.h"

/* virtio_pci_cap cfg_type values */
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4

/* struct virtio_pci_common_cfg */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DEVICE_FEATURE 0x04
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE 0x0C
#define COMMON_CONFIG_MSIX_VECTOR 0x10
#define COMMON_NUM_QUEUES 0x12
#define COMMON_DEVICE_STATUS 0x14
#define COMMON_CONFIG_GENERATION 0x15
#define COMMON_QUEUE_SELECT 0x16
#define COMMON_QUEUE_SIZE 0x18
#define COMMON_QUEUE_MSIX_VECTOR 0x1A
#define COMMON_QUEUE_ENABLE 0x1C
#define COMMON_QUEUE_NOTIFY_OFF 0x1E
#define COMMON_QUEUE_DESC 0x20
#define COMMON_QUEUE_DRIVER 0x28
#define COMMON_QUEUE_DEVICE 0x30
#define COMMON_CFG_LEN 0x38

#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define STATUS_NEEDS_RESET 0x40
#define STATUS_FAILED 0x80

#define FEATURE_VERSION_1_HIGH 1        /* bit 32: bit 0 of feature word 1 */
#define NO_VECTOR 0xFFFF
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2

/* Polls of device_status after a reset; a device may finish its reset asynchronously. */
#define RESET_POLL_LIMIT 100000
#define MAX_QUEUE_PAGES 16
#define QUEUE_BYTES_USED 1024

/* One page per queue: descriptors at 0, avail ring at 256, used ring at 512 (size <= 16). A
 * queue keeps its page across resets. */
static u8 queue_pages[MAX_QUEUE_PAGES][4096] ALIGNED(4096);
static unsigned queue_pages_used;

int virtio_type(const struct pci_device *d)
{
    if (d->vendor != VIRTIO_PCI_VENDOR || d->header_type != 0)
        return -1;
    if (d->device >= 0x1040 && d->device <= 0x107F)
        return d->device - 0x1040;
    if (d->device >= 0x1000 && d->device <= 0x103F)
        return d->subsystem;            /* transitional: type in the subsystem id */
    return -1;
}

const char *virtio_type_name(int type)
{
    switch (type) {
    case 1: return "net";
    case VIRTIO_TYPE_BLOCK: return "blk";
    case 3: return "console";
    case VIRTIO_TYPE_RNG: return "rng";
    case 9: return "9p";
    case 26: return "fs";
    default: return "virtio";
    }
}

static const char *find_capabilities(struct virtio_device *v)
{
    const struct pci_device *d = v->pci;
    u8 seen = 0;
    for (u8 cap = pci_find_capability(d, PCI_CAP_ID_VENDOR, 0); cap; cap = pci_find_capability(d, PCI_CAP_ID_VENDOR, cap)) {
        u8 type = pci_read8(d, cap + 3);
        if (type < CAP_COMMON || type > CAP_DEVICE || (seen & (1 << type)))
            continue;                   /* the first of each kind is the preferred one */
        u8 bar = pci_read8(d, cap + 4);
        u32 off = pci_read32(d, cap + 8), len = pci_read32(d, cap + 12);
        u64 addr;
        const char *err = pci_bar_region(d, bar, off, len, &addr);
        if (err)
            return err;
        seen |= 1 << type;
        switch (type) {
        case CAP_COMMON:
            if (len < COMMON_CFG_LEN)
                return "COMMON capability is shorter than virtio_pci_common_cfg";
            v->common = addr;
            break;
        case CAP_NOTIFY:
            v->notify = addr;
            v->notify_len = len;
            v->notify_multiplier = pci_read32(d, cap + 16);
            break;
        case CAP_ISR:
            v->isr = addr;
            break;
        case CAP_DEVICE:
            v->device_cfg = addr;
            v->device_cfg_len = len;
            break;
        }
    }
    if (!(seen & (1 << CAP_COMMON)))
        return "no virtio COMMON capability (not a modern virtio-pci device)";
    if (!(seen & (1 << CAP_NOTIFY)))
        return "no virtio NOTIFY capability";
    return NULL;
}

static void set_status(struct virtio_device *v, u8 bits)
{
    mmio_write8(v->common + COMMON_DEVICE_STATUS, mmio_read8(v->common + COMMON_DEVICE_STATUS) | bits);
}

static const char *reset(struct virtio_device *v)
{
    mmio_write8(v->common + COMMON_DEVICE_STATUS, 0);
    for (int i = 0; i < RESET_POLL_LIMIT; i++)
        if (mmio_read8(v->common + COMMON_DEVICE_STATUS) == 0)
            return NULL;
    return "device status did not read 0 after reset";
}

static const char *negotiate(struct virtio_device *v)
{
    u64 c = v->common;
    mmio_write32(c + COMMON_DEVICE_FEATURE_SELECT, 0);
    u32 lo = mmio_read32(c + COMMON_DEVICE_FEATURE);
    mmio_write32(c + COMMON_DEVICE_FEATURE_SELECT, 1);
    u32 hi = mmio_read32(c + COMMON_DEVICE_FEATURE);
    v->device_features = (u64)hi << 32 | lo;
    if (!(hi & FEATURE_VERSION_1_HIGH))
        return "device does not offer VIRTIO_F_VERSION_1";
    mmio_write32(c + COMMON_DRIVER_FEATURE_SELECT, 0);
    mmio_write32(c + COMMON_DRIVER_FEATURE, 0);
    mmio_write32(c + COMMON_DRIVER_FEATURE_SELECT, 1);
    mmio_write32(c + COMMON_DRIVER_FEATURE, FEATURE_VERSION_1_HIGH);
    set_status(v, STATUS_FEATURES_OK);
    if (!(mmio_read8(c + COMMON_DEVICE_STATUS) & STATUS_FEATURES_OK))
        return "device cleared FEATURES_OK: it refused VERSION_1 alone";
    return NULL;
}

static void write64(u64 addr, u64 v)
{
    mmio_write32(addr, (u32)v);
    mmio_write32(addr + 4, (u32)(v >> 32));
}

static const char *setup_queue(struct virtio_device *v, u16 index)
{
    u64 c = v->common;
    struct virtq *q = &v->q[index];
    mmio_write16(c + COMMON_QUEUE_SELECT, index);
    u16 max = mmio_read16(c + COMMON_QUEUE_SIZE);
    if (max == 0)
        return "a queue the driver needs is not available (size 0)";
    u16 size = VIRTQ_MAX_SIZE;
    while (size > max)
        size >>= 1;                     /* split rings want a power of two */
    if (!q->desc) {
        if (queue_pages_used == MAX_QUEUE_PAGES)
            return "more virtqueues than this guest has queue pages for";
        u8 *page = queue_pages[queue_pages_used++];
        q->desc = (volatile struct virtq_desc *)page;
        q->avail = (volatile struct virtq_avail *)(page + 256);
        q->used = (volatile struct virtq_used *)(page + 512);
    }
    for (int i = 0; i < QUEUE_BYTES_USED / 8; i++)     /* desc, avail and used of a 16-entry ring */
        ((volatile u64 *)q->desc)[i] = 0;
    q->size = size;
    q->next_avail = q->next_used = 0;
    q->irqs_seen = irq_count(q->vector);

    mmio_write16(c + COMMON_QUEUE_SIZE, size);
    mmio_write16(c + COMMON_QUEUE_MSIX_VECTOR, index);      /* MSI-X entry = queue index */
    u16 back = mmio_read16(c + COMMON_QUEUE_MSIX_VECTOR);
    if (back != index) {
        kprintf("%s: queue %u MSI-X entry read back 0x%x, wrote %u\n", v->tag, index, back, index);
        return back == NO_VECTOR ? "device refused the queue's MSI-X entry (read back NO_VECTOR)"
                                 : "queue MSI-X vector did not read back as written";
    }
    write64(c + COMMON_QUEUE_DESC, (u64)q->desc);
    write64(c + COMMON_QUEUE_DRIVER, (u64)q->avail);
    write64(c + COMMON_QUEUE_DEVICE, (u64)q->used);
    q->notify_off = mmio_read16(c + COMMON_QUEUE_NOTIFY_OFF);
    u64 notify_at = (u64)q->notify_off * v->notify_multiplier;
    if (notify_at + 2 > v->notify_len)
        return "queue notify address lies outside the NOTIFY capability";
    q->notify_addr = v->notify + notify_at;
    mmio_write16(c + COMMON_QUEUE_ENABLE, 1);
    return NULL;
}

/* Reset through DRIVER_OK: the part of the initialisation a reset undoes. */
static const char *initialise(struct virtio_device *v)
{
    const char *err;
    if ((err = reset(v)))
        return err;
    set_status(v, STATUS_ACKNOWLEDGE);
    set_status(v, STATUS_DRIVER);
    if ((err = negotiate(v)))
        return err;
    mmio_write16(v->common + COMMON_CONFIG_MSIX_VECTOR, NO_VECTOR);
    u16 available = mmio_read16(v->common + COMMON_NUM_QUEUES);
    if (available < v->nqueues) {
        kprintf("%s: device has %u queues, the driver needs %u\n", v->tag, available, v->nqueues);
        return available ? "device has fewer queues than the driver needs" : "device has no queues";
    }
    for (u16 i = 0; i < v->nqueues; i++)
        if ((err = setup_queue(v, i)))
            return err;
    set_status(v, STATUS_DRIVER_OK);
    u8 status = mmio_read8(v->common + COMMON_DEVICE_STATUS);
    if (status & (STATUS_NEEDS_RESET | STATUS_FAILED))
        return "device reports NEEDS_RESET or FAILED after DRIVER_OK";
    if (!(status & STATUS_DRIVER_OK))
        return "DRIVER_OK did not stick in device_status";
    return NULL;
}

const char *virtio_setup(struct virtio_device *v, const struct pci_device *d, u16 nqueues, u8 first_vector,
                         u8 dest_apic)
{
    const char *err;
    if (nqueues == 0 || nqueues > VIRTIO_MAX_QUEUES)
        return "this guest drives 1 or 2 queues per device";
    v->pci = d;
    v->type = (u16)virtio_type(d);
    v->nqueues = nqueues;
    if ((err = find_capabilities(v)) || (err = msix_init(&v->msix, d)))
        return err;
    for (u16 i = 0; i < nqueues; i++) {
        v->q[i].vector = (u8)(first_vector + i);
        if ((err = msix_route(&v->msix, i, v->q[i].vector, dest_apic)))
            return err;
    }
    msix_enable(&v->msix);
    pci_write16(d, PCI_COMMAND, pci_read16(d, PCI_COMMAND) | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    return initialise(v);
}

const char *virtio_reinit(struct virtio_device *v)
{
    return initialise(v);
}

static int completed(void *arg)
{
    struct virtq *q = arg;
    return q->used->idx != q->next_used && irq_count(q->vector) != q->irqs_seen;
}

void (*virtq_after_kick)(struct virtio_device *v, u16 queue);

const char *virtq_transfer(struct virtio_device *v, u16 queue, const struct virtq_buf *bufs, int n, u32 *used_len)
{
    if (queue >= v->nqueues)
        return "request for a queue the driver did not set up";
    struct virtq *q = &v->q[queue];
    if (n < 1 || n > q->size)
        return "request has more buffers than the queue has descriptors";
    /* One request in flight at a time, so its chain always starts at descriptor 0. */
    for (int i = 0; i < n; i++) {
        volatile struct virtq_desc *d = &q->desc[i];
        d->addr = (u64)bufs[i].addr;
        d->len = bufs[i].len;
        d->flags = (i + 1 < n ? VRING_DESC_F_NEXT : 0) | (bufs[i].device_writes ? VRING_DESC_F_WRITE : 0);
        d->next = (u16)(i + 1 < n ? i + 1 : 0);
    }
    q->avail->ring[q->next_avail % q->size] = 0;
    barrier();                          /* ring entry before the index that publishes it */
    q->avail->idx = ++q->next_avail;
    barrier();
    mmio_write16(q->notify_addr, queue);
    if (virtq_after_kick)
        virtq_after_kick(v, queue);

    if (!wait_until(completed, q, WATCHDOG_TICKS)) {
        int used = q->used->idx != q->next_used, irq = irq_count(q->vector) != q->irqs_seen;
        kprintf("%s", v->tag);
        if (v->nqueues > 1)
            kprintf(" queue %u", queue);
        kprintf(": watchdog after %u ms: used idx %u (expected %u), vector 0x%x interrupts %u (had %u)\n",
                WATCHDOG_TICKS * TIMER_TICK_MS, q->used->idx, (u16)(q->next_used + 1), q->vector,
                irq_count(q->vector), q->irqs_seen);
        return used ? "request completed in the used ring but no MSI-X interrupt arrived"
               : irq ? "MSI-X interrupt arrived but the used ring did not advance"
                     : "request not completed: no used-ring entry and no interrupt";
    }
    q->irqs_seen = irq_count(q->vector);
    volatile struct virtq_used_elem *e = &q->used->ring[q->next_used % q->size];
    u32 id = e->id;
    *used_len = e->len;
    q->next_used++;
    if (q->used->idx != q->next_used)
        return "used ring advanced by more than the one request in flight";
    if (id != 0)
        return "used ring returned a descriptor id we never posted";
    return NULL;
}

const char *virtio_config_read64(struct virtio_device *v, u32 off, u64 *value)
{
    if (!v->device_cfg || off + 8 > v->device_cfg_len)
        return "device configuration field lies outside the DEVICE capability";
    for (int tries = 0; tries < 8; tries++) {
        u8 gen = mmio_read8(v->common + COMMON_CONFIG_GENERATION);
        u32 lo = mmio_read32(v->device_cfg + off), hi = mmio_read32(v->device_cfg + off + 4);
        if (mmio_read8(v->common + COMMON_CONFIG_GENERATION) == gen) {
            *value = (u64)hi << 32 | lo;
            return NULL;
        }
    }
    return "device configuration kept changing (config_generation)";
}

const char *virtio_config_read32(struct virtio_device *v, u32 off, u32 *value)
{
    if (!v->device_cfg || off + 4 > v->device_cfg_len)
        return "device configuration field lies outside the DEVICE capability";
    *value = mmio_read32(v->device_cfg + off);
    return NULL;
}

const char *virtio_config_read_bytes(struct virtio_device *v, u32 off, u8 *out, u32 len)
{
    if (!v->device_cfg || off + len > v->device_cfg_len || off + len < off)
        return "device configuration field lies outside the DEVICE capability";
    for (int tries = 0; tries < 8; tries++) {
        u8 gen = mmio_read8(v->common + COMMON_CONFIG_GENERATION);
        for (u32 i = 0; i < len; i++)
            out[i] = mmio_read8(v->device_cfg + off + i);
        if (mmio_read8(v->common + COMMON_CONFIG_GENERATION) == gen)
            return NULL;
    }
    return "device configuration kept changing (config_generation)";
}
