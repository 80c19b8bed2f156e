/* The virtio-rng check: 64 bytes of entropy, not all zero. */
#ifndef GUEST_VIRTIO_RNG_H
#define GUEST_VIRTIO_RNG_H

#include "virtio.h"

/* Runs the check on a set-up device, printing its result line. Returns NULL or what failed. */
const char *virtio_rng_test(struct virtio_device *v);

#endif
