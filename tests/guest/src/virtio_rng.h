/* The virtio-rng check: 64 bytes of entropy, not all zero. */
#ifndef GUEST_VIRTIO_RNG_H
#define GUEST_VIRTIO_RNG_H

#include "virtio.h"

/* Runs the check on a set-up device, printing its result line. Returns NULL or what failed. */
const char *virtio_rng_test(struct virtio_device *v);

/* rng-mask-cycles=N: N one-request transfers, each masking and unmasking the queue's MSI-X
 * entry (odd cycles: the whole function) right after the kick; a lost interrupt ends in the
 * transfer's watchdog. */
const char *virtio_rng_mask_cycles(struct virtio_device *v, u32 cycles);

#endif
