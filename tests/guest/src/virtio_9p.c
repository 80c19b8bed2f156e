#include "virtio_9p.h"
#include "console.h"
#include "fs_verify.h"
#include "lib.h"

/* 9P2000.L (chaos/diod protocol.md): size[4] type[1] tag[2] then the fields, little-endian. */
#define P9_MSIZE 8192
#define P9_TVERSION 100
#define P9_TATTACH 104
#define P9_TWALK 110
#define P9_TLOPEN 12
#define P9_TREAD 116
#define P9_TCLUNK 120
#define P9_RLERROR 7
#define P9_NOFID 0xffffffffu
#define P9_CHUNK (P9_MSIZE - 24)        /* what a Tread asks for: msize less the I/O header */

static u8 tmsg[P9_MSIZE] __attribute__((aligned(4096)));
static u8 rmsg[P9_MSIZE] __attribute__((aligned(4096)));
static u8 data[P9_CHUNK + 8] __attribute__((aligned(8)));
static u32 at;                          /* where the next field of tmsg goes */
static u16 next_tag;

static void put8(u8 v) { tmsg[at++] = v; }
static void put16(u16 v) { put8((u8)v); put8((u8)(v >> 8)); }
static void put32(u32 v) { put16((u16)v); put16((u16)(v >> 16)); }
static void put64(u64 v) { put32((u32)v); put32((u32)(v >> 32)); }
static void putstr(const char *s)
{
    u16 n = 0;
    while (s[n])
        n++;
    put16(n);
    for (u16 i = 0; i < n; i++)
        put8((u8)s[i]);
}
static u32 get32(const u8 *p) { return p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24; }
static u16 get16(const u8 *p) { return (u16)(p[0] | p[1] << 8); }

static void begin(u8 type, u16 tag)
{
    at = 0;
    put32(0);
    put8(type);
    put16(tag);
}

/* Sends tmsg, waits for the reply in rmsg; checks its type and tag. */
static const char *rpc(struct virtio_device *v, u8 type, u32 *reply_len)
{
    tmsg[0] = (u8)at, tmsg[1] = (u8)(at >> 8), tmsg[2] = (u8)(at >> 16), tmsg[3] = (u8)(at >> 24);
    struct virtq_buf bufs[2] = {
        { .addr = tmsg, .len = at, .device_writes = 0 },
        { .addr = rmsg, .len = P9_MSIZE, .device_writes = 1 },
    };
    u32 used = 0;
    const char *err = virtq_transfer(v, 0, bufs, 2, &used);
    if (err)
        return err;
    if (used < 7 || get32(rmsg) != used)
        return "a reply whose size field does not match what the device wrote";
    if (get16(rmsg + 5) != get16(tmsg + 5))
        return "a reply with another request's tag";
    if (rmsg[4] == P9_RLERROR) {
        kprintf("9p: T%u answered Rlerror errno %u\n", type, used >= 11 ? get32(rmsg + 7) : 0);
        return "the server answered Rlerror";
    }
    if (rmsg[4] != type + 1)
        return "a reply of the wrong type";
    *reply_len = used;
    return NULL;
}

const char *virtio_9p_options(const struct bootinfo *bi, struct p9_options *o)
{
    char value[P9_NAME_MAX + 1];
    o->enabled = bootinfo_option(bi, "p9", value, sizeof(value));
    if (!o->enabled)
        return NULL;
    u32 n = 0;
    while (value[n])
        n++;
    if (n == 0 || n >= P9_NAME_MAX)
        return "p9=FILE: a file name of 1 to 63 bytes in the exported directory";
    for (u32 i = 0; i <= n; i++)
        o->file[i] = value[i];
    return NULL;
}

const char *virtio_9p_test(struct virtio_device *v, const struct p9_options *o)
{
    u8 cfg[2];
    const char *err = virtio_config_read_bytes(v, 0, cfg, 2);
    if (err)
        return err;
    kprintf("9p: mount tag of %u bytes\n", get16(cfg));
    u32 len;
    begin(P9_TVERSION, 0xffff);
    put32(P9_MSIZE);
    putstr("9P2000.L");
    if ((err = rpc(v, P9_TVERSION, &len)))
        return err;
    u32 msize = get32(rmsg + 7);
    if (msize < 4096 || msize > P9_MSIZE)
        return "Rversion: an msize outside 4096..8192";
    kprintf("9p: version 9P2000.L msize %u\n", msize);
    begin(P9_TATTACH, ++next_tag);
    put32(0);
    put32(P9_NOFID);
    putstr("");
    putstr("");
    put32(0);
    if ((err = rpc(v, P9_TATTACH, &len)))
        return err;
    begin(P9_TWALK, ++next_tag);
    put32(0);
    put32(1);
    put16(1);
    putstr(o->file);
    if ((err = rpc(v, P9_TWALK, &len)))
        return err;
    if (get16(rmsg + 7) != 1)
        return "Twalk did not reach the file";
    kprintf("9p: walk %s ok\n", o->file);
    begin(P9_TLOPEN, ++next_tag);
    put32(1);
    put32(0);                           /* O_RDONLY */
    if ((err = rpc(v, P9_TLOPEN, &len)))
        return err;
    struct fs_chunk_job job = { .seed = FS_SOURCE_SEED, .mismatch = FS_NO_MISMATCH };
    fs_checksum_init(&job.sum);
    u64 offset = 0;
    u32 chunk = msize - 24 < P9_CHUNK ? msize - 24 : P9_CHUNK;
    chunk &= ~7u;                       /* whole pattern words until the file's last chunk */
    for (;;) {
        begin(P9_TREAD, ++next_tag);
        put32(1);
        put64(offset);
        put32(chunk);
        if ((err = rpc(v, P9_TREAD, &len)))
            return err;
        u32 count = get32(rmsg + 7);
        if (count == 0)
            break;
        if (count > chunk || 11 + count > len)
            return "Rread carries more than was asked for";
        for (u32 i = 0; i < count; i++)
            data[i] = rmsg[11 + i];
        job.offset = offset;
        job.buf = data;
        job.len = count;
        if (fs_verify_chunk(&job)) {
            kprintf("9p: %s at offset %lu: word 0x%lx, expected 0x%lx\n", o->file, job.mismatch, job.found, job.expected);
            return "the bytes read over 9P are not the host file's";
        }
        offset += count;
    }
    begin(P9_TCLUNK, ++next_tag);
    put32(1);
    if ((err = rpc(v, P9_TCLUNK, &len)))
        return err;
    kprintf("9p: read %s %lu ok checksum=%016lx\n", o->file, offset, (u64)job.sum.h);
    return NULL;
}
