#include "virtio_fs.h"
#include "console.h"
#include "cpu.h"
#include "fs_verify.h"
#include "fuse_client.h"
#include "lib.h"
#include "paging.h"
#include "tsc.h"
#include "usermode.h"

/* struct virtio_fs_config */
#define FS_CONFIG_TAG 0
#define FS_TAG_BYTES 36
#define FS_CONFIG_NUM_REQUEST_QUEUES 36
#define DEFAULT_WRITTEN_NAME "jvmm-guest-wrote"
#define CREATE_MODE (FUSE_S_IFREG | 0644)

extern char __image_start[], __image_end[];   /* guest.ld */

static struct fuse_session session;
/* Static, not on the stack: user-mode code reads and writes it, and only the image and the
 * buffer are opened to CPL3 (the VMM's boot stacks are not). */
static struct fs_chunk_job job;
/* TSC cycles spent waiting for READ replies, verifying what they brought, and filling WRITEs. */
static u64 device_cycles, verify_cycles, fill_cycles;
static u32 reads, read_chunk;

static usize length(const char *s)
{
    usize n = 0;
    while (s[n])
        n++;
    return n;
}

static void copy_name(char *dst, const char *src)
{
    usize i = 0;
    while (src[i] && i + 1 < FS_NAME_MAX)
        dst[i] = src[i], i++;
    dst[i] = 0;
}

const char *virtio_fs_options(const struct bootinfo *bi, struct fs_options *o)
{
    char value[FS_NAME_MAX + 1];
    o->enabled = bootinfo_option(bi, "fs", value, sizeof(value));
    if (!o->enabled)
        return NULL;
    if (!value[0])
        return "fs needs a file name: fs=FILE (a file in the shared directory)";
    if (length(value) >= FS_NAME_MAX)
        return "fs=FILE: the name is longer than 63 bytes";
    copy_name(o->file, value);
    copy_name(o->written, DEFAULT_WRITTEN_NAME);
    if (bootinfo_option(bi, "fs-write", value, sizeof(value))) {
        if (!value[0] || length(value) >= FS_NAME_MAX)
            return "fs-write=NAME: the name is empty or longer than 63 bytes";
        copy_name(o->written, value);
    }
    if (str_eq(o->written, o->file))
        return "fs-write names the file fs= reads: the check would overwrite its own input";
    o->resets = FS_DEFAULT_RESETS;
    if (bootinfo_option(bi, "fs-resets", value, sizeof(value)) && !parse_u32(value, FS_MAX_RESETS, &o->resets))
        return "fs-resets=N: expected a number of reset cycles in 0..1000";
    o->verify_at_cpl0 = 0;
    if (bootinfo_option(bi, "fs-verify", value, sizeof(value))) {
        if (str_eq(value, "cpl0"))
            o->verify_at_cpl0 = 1;
        else if (!str_eq(value, "cpl3"))
            return "fs-verify= takes cpl3 (the default) or cpl0";
    }
    return NULL;
}

/* The bulk work over the buffer, at CPL3 unless told otherwise; its time is counted apart. */
static u64 run_bulk(u64 (*fn)(void *), const struct fs_options *o, u64 *cycles)
{
    u64 t = rdtsc();
    u64 r = o->verify_at_cpl0 ? fn(&job) : usermode_call(fn, &job);
    *cycles += rdtsc() - t;
    return r;
}

static const char *prepare_user_mode(const struct fs_options *o, u8 *buffer)
{
    if (o->verify_at_cpl0)
        return NULL;
    const char *err = usermode_init();
    if (!err)
        err = paging_allow_user((u64)__image_start, (u64)(__image_end - __image_start));
    if (!err)
        err = paging_allow_user((u64)buffer, FS_BUFFER_BYTES);
    return err;
}

static const char *describe_device(struct virtio_device *v)
{
    u8 tag[FS_TAG_BYTES + 1];
    u32 request_queues;
    const char *err = virtio_config_read_bytes(v, FS_CONFIG_TAG, tag, FS_TAG_BYTES);
    if (!err)
        err = virtio_config_read32(v, FS_CONFIG_NUM_REQUEST_QUEUES, &request_queues);
    if (err)
        return err;
    tag[FS_TAG_BYTES] = 0;              /* a 36-byte tag has no NUL of its own */
    for (int i = 0; tag[i]; i++)
        if (tag[i] < 0x20 || tag[i] > 0x7E)
            return "the device's tag has a byte that is not printable ASCII";
    kprintf("fs: tag %s, request queues %u\n", tag[0] ? (const char *)tag : "(empty)", request_queues);
    if (!tag[0])
        return "the device's tag is empty";
    if (request_queues == 0)
        return "the device reports 0 request queues";
    return NULL;
}

/* One READ, counted and timed. */
static const char *timed_read(u64 node, u64 fh, u64 offset, u8 *buffer, u32 size, u32 *got)
{
    u64 t = rdtsc();
    const char *err = fuse_read(&session, node, fh, offset, buffer, size, got);
    device_cycles += rdtsc() - t;
    reads++;
    return err;
}

static const char *read_file(const struct fs_options *o, u8 *buffer)
{
    struct fuse_entry_out entry;
    struct fuse_attr attr;
    u64 fh;
    const char *err;
    if ((err = fuse_lookup(&session, FUSE_ROOT_ID, o->file, &entry)))
        return err;
    u64 node = entry.nodeid;
    if ((err = fuse_getattr(&session, node, &attr)))
        return err;
    if ((attr.mode & FUSE_S_IFMT) != FUSE_S_IFREG)
        return "fs=FILE is not a regular file";
    if (attr.size == 0)
        return "fs=FILE is empty: there is nothing to verify";
    kprintf("fs: lookup %s node %lu size %lu\n", o->file, node, attr.size);
    if ((err = fuse_open(&session, node, FUSE_O_RDONLY, &fh)))
        return err;

    u32 chunk = session.max_read < FS_BUFFER_BYTES ? session.max_read : FS_BUFFER_BYTES;
    read_chunk = chunk;
    job.seed = FS_SOURCE_SEED;
    fs_checksum_init(&job.sum);
    job.buf = buffer;
    for (u64 off = 0; off < attr.size; off += job.len) {
        u32 want = attr.size - off < chunk ? (u32)(attr.size - off) : chunk, got;
        if ((err = timed_read(node, fh, off, buffer, want, &got)))
            return err;
        if (got != want) {
            kprintf("fs: READ at offset %lu: %u of %u bytes before the end of the file\n", off, got, want);
            return "short READ inside the file";
        }
        job.offset = off;
        job.len = got;
        if (run_bulk(fs_verify_chunk, o, &verify_cycles)) {
            kprintf("fs: %s at offset %lu: read 0x%lx, the host wrote 0x%lx\n", o->file, job.mismatch, job.found,
                    job.expected);
            return "data read differs from the pattern the host wrote";
        }
    }
    u32 got;
    if ((err = timed_read(node, fh, attr.size, buffer, chunk, &got)))
        return err;
    if (got != 0) {
        kprintf("fs: READ at the end of the file (offset %lu) returned %u bytes\n", attr.size, got);
        return "READ past the size GETATTR reported returned data";
    }
    if ((err = fuse_release(&session, node, fh, FUSE_O_RDONLY)) || (err = fuse_forget(&session, node, 1)))
        return err;
    kprintf("fs: read %s %lu ok checksum=%016lx\n", o->file, attr.size, (u64)job.sum.h);
    return NULL;
}

static const char *write_file(const struct fs_options *o, u8 *buffer)
{
    struct fuse_entry_out entry;
    struct fuse_attr attr;
    u64 fh;
    const char *err;
    if ((err = fuse_create(&session, FUSE_ROOT_ID, o->written, FUSE_O_WRONLY | FUSE_O_CREAT | FUSE_O_TRUNC,
                           CREATE_MODE, &entry, &fh)))
        return err;
    u64 node = entry.nodeid;
    u32 chunk = session.max_write < FS_BUFFER_BYTES ? session.max_write : FS_BUFFER_BYTES;
    chunk &= ~7U;                       /* every chunk but the last starts on a word */
    job.seed = FS_WRITTEN_SEED;
    job.buf = buffer;
    for (u64 off = 0; off < FS_WRITTEN_BYTES; off += job.len) {
        job.offset = off;
        job.len = FS_WRITTEN_BYTES - off < chunk ? FS_WRITTEN_BYTES - off : chunk;
        run_bulk(fs_fill_chunk, o, &fill_cycles);
        if ((err = fuse_write(&session, node, fh, off, buffer, (u32)job.len)))
            return err;
    }
    if ((err = fuse_release(&session, node, fh, FUSE_O_WRONLY)) || (err = fuse_getattr(&session, node, &attr)))
        return err;
    if (attr.size != FS_WRITTEN_BYTES) {
        kprintf("fs: %s: GETATTR size %lu after writing %lu bytes\n", o->written, attr.size, (u64)FS_WRITTEN_BYTES);
        return "the written file's size is not what was written";
    }
    if ((err = fuse_forget(&session, node, 1)))
        return err;
    kprintf("fs: wrote %s %lu\n", o->written, (u64)FS_WRITTEN_BYTES);
    return NULL;
}

static const char *reset_cycles(struct virtio_device *v, const struct fs_options *o)
{
    for (u32 i = 1; i <= o->resets; i++) {
        struct fuse_attr root;
        const char *err = virtio_reinit(v);
        if (!err)
            err = fuse_init(&session, v);
        if (!err)
            err = fuse_getattr(&session, FUSE_ROOT_ID, &root);
        if (!err && (root.mode & FUSE_S_IFMT) != FUSE_S_IFDIR)
            err = "GETATTR of the root after re-initialisation is not a directory";
        if (err) {
            kprintf("fs: reset cycle %u of %u failed\n", i, o->resets);
            return err;
        }
    }
    kprintf("fs: reset cycles %u ok\n", o->resets);
    return NULL;
}

static u64 microseconds(u64 cycles, u64 khz)
{
    return cycles * 1000 / khz;         /* below 2^64 for any run shorter than hours */
}

const char *virtio_fs_test(struct virtio_device *v, const struct fs_options *o, u8 *buffer)
{
    const char *err;
    u64 khz;
    device_cycles = verify_cycles = fill_cycles = 0;
    reads = 0;
    if ((err = tsc_measure_khz(&khz)) || (err = prepare_user_mode(o, buffer)) || (err = describe_device(v)) ||
        (err = fuse_init(&session, v)))
        return err;
    kprintf("fs: init ok 7.%u max_write=%u max_read=%u\n", session.minor, session.max_write, session.max_read);
    u64 t0 = rdtsc();
    if ((err = read_file(o, buffer)))
        return err;
    u64 t1 = rdtsc();
    if ((err = write_file(o, buffer)))
        return err;
    u64 t2 = rdtsc();
    if ((err = reset_cycles(v, o)))
        return err;
    u64 t3 = rdtsc();
    kprintf("fs: time read=%lu us (%u READs of up to %u KiB: waiting %lu us, verifying %lu us) write=%lu us "
            "(filling %lu us) resets=%lu us, bulk work at %s, tsc-khz=%lu\n",
            microseconds(t1 - t0, khz), reads, read_chunk / 1024, microseconds(device_cycles, khz),
            microseconds(verify_cycles, khz), microseconds(t2 - t1, khz), microseconds(fill_cycles, khz),
            microseconds(t3 - t2, khz), o->verify_at_cpl0 ? "cpl0" : "cpl3", khz);
    return NULL;
}
