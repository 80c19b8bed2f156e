/* virtio 1.x over PCI (the modern transport): capability discovery, the device initialisation
 * sequence, and one split virtqueue per device driven by MSI-X interrupts. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "msix.h"

#define VIRTIO_PCI_VENDOR 0x1AF4
#define VIRTIO_TYPE_BLOCK 2
#define VIRTIO_TYPE_RNG 4
/* Descriptors per queue: every request here is at most three descriptors, one in flight. */
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
    struct virtq q;                     /* queue 0 */
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

/* Finds the COMMON/NOTIFY/ISR/DEVICE capabilities, routes MSI-X entry 0 to `vector` on APIC
 * `dest_apic`, enables bus mastering and runs the initialisation sequence through DRIVER_OK
 * with queue 0 set up. Only VIRTIO_F_VERSION_1 is accepted. Returns NULL or what failed. */
const char *virtio_setup(struct virtio_device *v, const struct pci_device *d, u8 vector, u8 dest_apic);

/* Posts one request (a descriptor chain of n buffers), notifies the device and waits, halting,
 * for its MSI-X interrupt and the used-ring entry. *used_len gets the length the device wrote.
 * Returns NULL or what failed (including a watchdog timeout naming what did not happen). */
const char *virtq_transfer(struct virtio_device *v, const struct virtq_buf *bufs, int n, u32 *used_len);

/* Device-specific configuration reads, bounds-checked against the DEVICE capability; 64-bit
 * fields are read as two halves under the config-generation check. */
const char *virtio_config_read64(struct virtio_device *v, u32 off, u64 *value);

#endif
