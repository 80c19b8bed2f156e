/* The virtio-9p check of the test guest: p9=FILE reads a host file over 9P2000.L (version,
 * attach, walk, lopen, read) and verifies its bytes against fs_pattern.h's source stream. */
#ifndef GUEST_VIRTIO_9P_H
#define GUEST_VIRTIO_9P_H

#include "bootinfo.h"
#include "virtio.h"

#define VIRTIO_TYPE_9P 9
#define P9_NAME_MAX 64

struct p9_options {
    int enabled;
    char file[P9_NAME_MAX];
};

const char *virtio_9p_options(const struct bootinfo *bi, struct p9_options *o);

const char *virtio_9p_test(struct virtio_device *v, const struct p9_options *o);

#endif
