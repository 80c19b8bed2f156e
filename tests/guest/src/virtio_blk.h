/* The virtio-blk check: capacity, a 4 KiB write of sectors 1..8 read back and compared, and
 * sector 0's first bytes printed. */
#ifndef GUEST_VIRTIO_BLK_H
#define GUEST_VIRTIO_BLK_H

#include "virtio.h"

/* Runs the check on a set-up device, printing its result line. Returns NULL or what failed. */
const char *virtio_blk_test(struct virtio_device *v);
/* The disk size in 512-byte sectors, from the device configuration. */
const char *virtio_blk_capacity(struct virtio_device *v, u64 *sectors);
/* One read request of len bytes from sector into buf: status and used length are checked. */
const char *virtio_blk_read(struct virtio_device *v, u64 sector, void *buf, u32 len);

#endif
