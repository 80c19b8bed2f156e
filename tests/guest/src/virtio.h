/* virtio 1.x over PCI (the modern transport): capability discovery, the device initialisation
 * sequence (again after a reset, too), and split virtqueues driven by MSI-X interrupts: queue i
 * of a device uses MSI-X table entry i. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "msix.h"

#define VIRTIO_PCI_VENDOR 0x1AF4
#define VIRTIO_TYPE_BLOCK 2
#define VIRTIO_TYPE_RNG 4
#define VIRTIO_TYPE_FS 26
/* Queues driven per device: one for blk and rng, two for virtio-fs (hiprio + one request queue). */
#define VIRTIO_MAX_QUEUES 2
/* Descriptors per queue: every request here is at most six descriptors (a FUSE CREATE), one
 * in flight. */
#define VIRTQ_MAX_SIZE 16

struct virtq_desc {
    u64 addr;
    u32 len;
    u16 flags;
    u16 next;
};

struct virtq_avail {
    u16 flags;
    u16 idx;
    u16 ring[VIRTQ_MAX_SIZE];
};

struct virtq_used_elem {
    u32 id;
    u32 len;
};

struct virtq_used {
    u16 flags;
    u16 idx;
    struct virtq_used_elem ring[VIRTQ_MAX_SIZE];
};

struct virtq {
    u16 size;
    u16 notify_off;
    u8 vector;                          /* local-APIC vector of its MSI-X entry */
    u64 notify_addr;
    volatile struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
    u16 next_avail;                     /* our copy of avail->idx */
    u16 next_used;                      /* the next used->idx we expect to consume */
    u32 irqs_seen;                      /* irq_count(vector) when we last consumed */
};

struct virtio_device {
    const struct pci_device *pci;
    u16 type;
    char tag[16];                       /* "blk 00:04.0", for messages */
    u64 common, isr, device_cfg, notify;
    u32 device_cfg_len, notify_len, notify_multiplier;
    u64 device_features;
    struct msix msix;
    u16 nqueues;                        /* queues 0..nqueues-1 are set up */
    struct virtq q[VIRTIO_MAX_QUEUES];
};

/* A buffer of a request: guest-physical address (identity-mapped), length, direction. */
struct virtq_buf {
    const volatile void *addr;
    u32 len;
    u8 device_writes;
};

/* The virtio device type of a PCI function (modern 0x1040+type or transitional with the type
 * in the subsystem id), or -1. */
int virtio_type(const struct pci_device *d);
const char *virtio_type_name(int type);

/* Finds the COMMON/NOTIFY/ISR/DEVICE capabilities, routes MSI-X entry i to vector
 * `first_vector + i` on APIC `dest_apic` for each of the `nqueues` queues, enables bus mastering
 * and runs the initialisation sequence through DRIVER_OK with queues 0..nqueues-1 set up. Only
 * VIRTIO_F_VERSION_1 is accepted. Returns NULL or what failed. */
const char *virtio_setup(struct virtio_device *v, const struct pci_device *d, u16 nqueues, u8 first_vector,
                         u8 dest_apic);

/* Resets a set-up device and initialises it again through DRIVER_OK, with fresh (empty) rings
 * in the same pages and the same MSI-X entries. No request may be in flight. */
const char *virtio_reinit(struct virtio_device *v);

/* Posts one request (a descriptor chain of n buffers) on queue `queue`, notifies the device and
 * waits, halting, for the queue's MSI-X interrupt and its used-ring entry. *used_len gets the
 * length the device wrote. Returns NULL or what failed (including a watchdog timeout naming what
 * did not happen). */
const char *virtq_transfer(struct virtio_device *v, u16 queue, const struct virtq_buf *bufs, int n, u32 *used_len);
/* If set, virtq_transfer calls it right after the kick, while the device may be completing the
 * request (rng-mask-cycles: masking races the completion's interrupt). */
extern void (*virtq_after_kick)(struct virtio_device *v, u16 queue);

/* Device-specific configuration reads, bounds-checked against the DEVICE capability; 64-bit
 * fields are read as two halves under the config-generation check. */
const char *virtio_config_read64(struct virtio_device *v, u32 off, u64 *value);
const char *virtio_config_read32(struct virtio_device *v, u32 off, u32 *value);
/* len bytes from offset off, byte by byte, under the config-generation check. */
const char *virtio_config_read_bytes(struct virtio_device *v, u32 off, u8 *out, u32 len);

#endif
