#include "virtio_rng.h"
#include "console.h"
#include "msix.h"

#define RNG_BYTES 64
#define RNG_SHOWN 8
/* A device may return fewer bytes than asked; this many requests must fill the buffer. */
#define RNG_MAX_REQUESTS 16

static u8 entropy[RNG_BYTES];

const char *virtio_rng_test(struct virtio_device *v)
{
    for (int i = 0; i < RNG_BYTES; i++)
        entropy[i] = 0;
    u32 got = 0;
    for (int n = 0; n < RNG_MAX_REQUESTS && got < RNG_BYTES; n++) {
        struct virtq_buf buf = { entropy + got, RNG_BYTES - got, 1 };
        u32 len;
        const char *err = virtq_transfer(v, 0, &buf, 1, &len);
        if (err)
            return err;
        if (len > RNG_BYTES - got)
            return "device reports writing more bytes than the buffer holds";
        got += len;
    }
    if (got < RNG_BYTES) {
        kprintf("%s: %u of %u bytes after %d requests\n", v->tag, got, RNG_BYTES, RNG_MAX_REQUESTS);
        return "device returned too few random bytes";
    }
    u8 any = 0;
    for (int i = 0; i < RNG_BYTES; i++)
        any |= entropy[i];
    if (!any)
        return "64 random bytes are all zero";
    kprintf("rng: %u bytes ok ", RNG_BYTES);
    print_hex_bytes(entropy, RNG_SHOWN);
    kprintf("\n");
    return NULL;
}

static u32 mask_cycle;

static void mask_around_completion(struct virtio_device *v, u16 queue)
{
    if (mask_cycle++ & 1) {
        msix_function_mask(&v->msix, 1);
        msix_function_mask(&v->msix, 0);
    } else {
        msix_mask_entry(&v->msix, queue, 1);
        msix_mask_entry(&v->msix, queue, 0);
    }
}

const char *virtio_rng_mask_cycles(struct virtio_device *v, u32 cycles)
{
    const char *err = NULL;
    virtq_after_kick = mask_around_completion;
    mask_cycle = 0;
    for (u32 i = 0; i < cycles && !err; i++) {
        struct virtq_buf buf = { entropy, 16, 1 };
        u32 len;
        err = virtq_transfer(v, 0, &buf, 1, &len);
        if (err)
            kprintf("%s: mask cycle %u of %u: %s\n", v->tag, i, cycles, err);
    }
    virtq_after_kick = NULL;
    if (!err)
        kprintf("rng: mask cycles %u ok\n", cycles);
    return err;
}
