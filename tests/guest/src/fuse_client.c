#include "fuse_client.h"
#include "console.h"

#define MAX_REQUEST_PARTS 2             /* after fuse_in_header: arguments, then a name or data */
#define MAX_REPLY_PARTS 2               /* after fuse_out_header: CREATE's entry + open results */
#define NAME_MAX_BYTES 255
#define REQUEST_PID 1                   /* there are no processes; the daemon only logs it */
#define PAGE_BYTES 4096

struct part {
    const volatile void *addr;
    u32 len;
};

/* One request in flight, so one set of buffers serves them all. */
static struct fuse_in_header in_header;
static struct fuse_out_header out_header;
static union {
    struct fuse_init_in init;
    struct fuse_getattr_in getattr;
    struct fuse_open_in open;
    struct fuse_create_in create;
    struct fuse_read_in read;
    struct fuse_write_in write;
    struct fuse_release_in release;
    struct fuse_forget_in forget;
} args;
static union {
    struct fuse_init_out init;
    struct fuse_entry_out entry;
    struct fuse_attr_out attr;
    struct fuse_open_out open;
    struct fuse_write_out write;
} result;
static struct fuse_open_out create_open;
static char name[NAME_MAX_BYTES + 1];

static const char *opcode_name(u32 opcode)
{
    switch (opcode) {
    case FUSE_LOOKUP: return "LOOKUP";
    case FUSE_FORGET: return "FORGET";
    case FUSE_GETATTR: return "GETATTR";
    case FUSE_OPEN: return "OPEN";
    case FUSE_READ: return "READ";
    case FUSE_WRITE: return "WRITE";
    case FUSE_RELEASE: return "RELEASE";
    case FUSE_INIT: return "INIT";
    case FUSE_CREATE: return "CREATE";
    default: return "?";
    }
}

static const char *errno_name(i32 e)
{
    switch (e) {
    case 1: return "EPERM";
    case 2: return "ENOENT";
    case 5: return "EIO";
    case 9: return "EBADF";
    case 12: return "ENOMEM";
    case 13: return "EACCES";
    case 17: return "EEXIST";
    case 20: return "ENOTDIR";
    case 21: return "EISDIR";
    case 22: return "EINVAL";
    case 27: return "EFBIG";
    case 28: return "ENOSPC";
    case 30: return "EROFS";
    case 36: return "ENAMETOOLONG";
    case 38: return "ENOSYS";
    case 71: return "EPROTO";
    case 95: return "EOPNOTSUPP";
    default: return "errno";
    }
}

/* Sends opcode for node with the argument parts, waits, and checks the reply; *reply_bytes is
 * the length of the result after fuse_out_header. FORGET has no reply at all. */
static const char *call(struct fuse_session *s, u16 queue, u32 opcode, u64 node, const struct part *in, int nin,
                        const struct part *out, int nout, u32 *reply_bytes)
{
    struct virtq_buf bufs[2 + MAX_REQUEST_PARTS + MAX_REPLY_PARTS];
    int n = 0;
    u32 len = sizeof(in_header);
    for (int i = 0; i < nin; i++)
        len += in[i].len;
    u64 unique = ++s->next_unique;
    in_header.len = len;
    in_header.opcode = opcode;
    in_header.unique = unique;
    in_header.nodeid = node;
    in_header.uid = in_header.gid = 0;
    in_header.pid = REQUEST_PID;
    in_header.padding = 0;
    bufs[n++] = (struct virtq_buf){ &in_header, sizeof(in_header), 0 };
    for (int i = 0; i < nin; i++)
        bufs[n++] = (struct virtq_buf){ in[i].addr, in[i].len, 0 };
    int replies = opcode != FUSE_FORGET;
    if (replies) {
        out_header.len = 0;
        out_header.error = 1;           /* not a valid value: the daemon must overwrite it */
        out_header.unique = 0;
        bufs[n++] = (struct virtq_buf){ &out_header, sizeof(out_header), 1 };
        for (int i = 0; i < nout; i++)
            bufs[n++] = (struct virtq_buf){ out[i].addr, out[i].len, 1 };
    }

    u32 used;
    const char *err = virtq_transfer(s->dev, queue, bufs, n, &used);
    if (err)
        return err;
    if (!replies) {
        if (used != 0) {
            kprintf("fs: %s: used length %u\n", opcode_name(opcode), used);
            return "device wrote bytes for a request that has no reply";
        }
        return NULL;
    }
    if (used < sizeof(out_header)) {
        kprintf("fs: %s: used length %u\n", opcode_name(opcode), used);
        return "reply is shorter than fuse_out_header";
    }
    if (out_header.unique != unique) {
        kprintf("fs: %s: reply unique %lu, request unique %lu\n", opcode_name(opcode), out_header.unique, unique);
        return "reply belongs to another request (unique differs)";
    }
    if (out_header.len != used) {
        kprintf("fs: %s: fuse_out_header.len %u, used length %u\n", opcode_name(opcode), out_header.len, used);
        return "reply length differs from the used-ring length";
    }
    if (out_header.error > 0 || out_header.error < -4095)
        return "reply error field is neither 0 nor a negative errno";
    if (out_header.error) {
        kprintf("fs: %s", opcode_name(opcode));
        if (opcode == FUSE_LOOKUP || opcode == FUSE_CREATE)
            kprintf(" '%s' in", name);
        kprintf(" node %lu: daemon error %d (%s)\n", node, out_header.error, errno_name(-out_header.error));
        return "the daemon answered with an error";
    }
    *reply_bytes = used - sizeof(out_header);
    return NULL;
}

static const char *expect_result(u32 opcode, u32 got, u32 expected)
{
    if (got == expected)
        return NULL;
    kprintf("fs: %s: %u result bytes, expected %u\n", opcode_name(opcode), got, expected);
    return "reply result has the wrong length for its opcode";
}

static const char *set_name(const char *n, u32 *len)
{
    u32 i = 0;
    while (n[i] && i < NAME_MAX_BYTES)
        name[i] = n[i], i++;
    if (n[i])
        return "file name is longer than 255 bytes";
    if (i == 0)
        return "file name is empty";
    name[i] = 0;
    *len = i + 1;                       /* the NUL travels too */
    return NULL;
}

const char *fuse_init(struct fuse_session *s, struct virtio_device *dev)
{
    s->dev = dev;
    args.init = (struct fuse_init_in){ FUSE_KERNEL_VERSION, FUSE_CLIENT_MINOR, 0, FUSE_MAX_PAGES };
    struct part in = { &args.init, sizeof(args.init) };
    struct part out = { &result.init, sizeof(result.init) };
    u32 got;
    const char *err = call(s, FUSE_REQUEST_QUEUE, FUSE_INIT, 0, &in, 1, &out, 1, &got);
    if (err)
        return err;
    if (got < FUSE_INIT_OUT_MIN) {
        kprintf("fs: INIT: %u result bytes\n", got);
        return "INIT reply is too short to carry max_write";
    }
    struct fuse_init_out *r = &result.init;
    if (r->major != FUSE_KERNEL_VERSION || r->minor < FUSE_CLIENT_MINOR) {
        kprintf("fs: INIT: daemon speaks %u.%u\n", r->major, r->minor);
        return "daemon speaks a FUSE protocol older than 7.31 or another major version";
    }
    if (r->max_write < PAGE_BYTES)
        return "daemon's max_write is below one page";
    s->minor = r->minor;
    s->flags = r->flags;
    s->max_write = r->max_write;
    u32 pages = (r->flags & FUSE_MAX_PAGES) && r->max_pages ? r->max_pages : FUSE_DEFAULT_MAX_PAGES;
    s->max_read = pages * PAGE_BYTES;
    return NULL;
}

const char *fuse_lookup(struct fuse_session *s, u64 parent, const char *n, struct fuse_entry_out *entry)
{
    u32 len, got;
    const char *err = set_name(n, &len);
    if (err)
        return err;
    struct part in = { name, len };
    struct part out = { &result.entry, sizeof(result.entry) };
    if ((err = call(s, FUSE_REQUEST_QUEUE, FUSE_LOOKUP, parent, &in, 1, &out, 1, &got)) ||
        (err = expect_result(FUSE_LOOKUP, got, sizeof(result.entry))))
        return err;
    if (result.entry.nodeid == 0)
        return "LOOKUP returned node 0 (a negative entry) for a name that must exist";
    *entry = result.entry;
    return NULL;
}

const char *fuse_getattr(struct fuse_session *s, u64 node, struct fuse_attr *attr)
{
    args.getattr = (struct fuse_getattr_in){ 0, 0, 0 };
    struct part in = { &args.getattr, sizeof(args.getattr) };
    struct part out = { &result.attr, sizeof(result.attr) };
    u32 got;
    const char *err;
    if ((err = call(s, FUSE_REQUEST_QUEUE, FUSE_GETATTR, node, &in, 1, &out, 1, &got)) ||
        (err = expect_result(FUSE_GETATTR, got, sizeof(result.attr))))
        return err;
    *attr = result.attr.attr;
    return NULL;
}

const char *fuse_open(struct fuse_session *s, u64 node, u32 flags, u64 *fh)
{
    args.open = (struct fuse_open_in){ flags, 0 };
    struct part in = { &args.open, sizeof(args.open) };
    struct part out = { &result.open, sizeof(result.open) };
    u32 got;
    const char *err;
    if ((err = call(s, FUSE_REQUEST_QUEUE, FUSE_OPEN, node, &in, 1, &out, 1, &got)) ||
        (err = expect_result(FUSE_OPEN, got, sizeof(result.open))))
        return err;
    *fh = result.open.fh;
    return NULL;
}

const char *fuse_read(struct fuse_session *s, u64 node, u64 fh, u64 offset, void *buf, u32 size, u32 *got)
{
    if (size > s->max_read)
        return "READ larger than the daemon's max_pages allows";
    args.read = (struct fuse_read_in){ fh, offset, size, 0, 0, FUSE_O_RDONLY, 0 };
    struct part in = { &args.read, sizeof(args.read) };
    struct part out = { buf, size };
    const char *err = call(s, FUSE_REQUEST_QUEUE, FUSE_READ, node, &in, 1, &out, 1, got);
    if (err)
        return err;
    if (*got > size)
        return "READ reply is longer than the size asked for";
    return NULL;
}

const char *fuse_create(struct fuse_session *s, u64 parent, const char *n, u32 flags, u32 mode,
                        struct fuse_entry_out *entry, u64 *fh)
{
    u32 len, got;
    const char *err = set_name(n, &len);
    if (err)
        return err;
    args.create = (struct fuse_create_in){ flags, mode, 0, 0 };
    struct part in[2] = { { &args.create, sizeof(args.create) }, { name, len } };
    struct part out[2] = { { &result.entry, sizeof(result.entry) }, { &create_open, sizeof(create_open) } };
    if ((err = call(s, FUSE_REQUEST_QUEUE, FUSE_CREATE, parent, in, 2, out, 2, &got)) ||
        (err = expect_result(FUSE_CREATE, got, sizeof(result.entry) + sizeof(create_open))))
        return err;
    if (result.entry.nodeid == 0)
        return "CREATE returned node 0";
    *entry = result.entry;
    *fh = create_open.fh;
    return NULL;
}

const char *fuse_write(struct fuse_session *s, u64 node, u64 fh, u64 offset, const void *buf, u32 size)
{
    if (size > s->max_write)
        return "WRITE larger than the daemon's max_write";
    args.write = (struct fuse_write_in){ fh, offset, size, 0, 0, FUSE_O_WRONLY, 0 };
    struct part in[2] = { { &args.write, sizeof(args.write) }, { buf, size } };
    struct part out = { &result.write, sizeof(result.write) };
    u32 got;
    const char *err;
    if ((err = call(s, FUSE_REQUEST_QUEUE, FUSE_WRITE, node, in, 2, &out, 1, &got)) ||
        (err = expect_result(FUSE_WRITE, got, sizeof(result.write))))
        return err;
    if (result.write.size != size) {
        kprintf("fs: WRITE at offset %lu: daemon took %u of %u bytes\n", offset, result.write.size, size);
        return "WRITE was short";
    }
    return NULL;
}

const char *fuse_release(struct fuse_session *s, u64 node, u64 fh, u32 flags)
{
    args.release = (struct fuse_release_in){ fh, flags, 0, 0 };
    struct part in = { &args.release, sizeof(args.release) };
    u32 got;
    const char *err = call(s, FUSE_REQUEST_QUEUE, FUSE_RELEASE, node, &in, 1, NULL, 0, &got);
    return err ? err : expect_result(FUSE_RELEASE, got, 0);
}

const char *fuse_forget(struct fuse_session *s, u64 node, u64 nlookup)
{
    args.forget = (struct fuse_forget_in){ nlookup };
    struct part in = { &args.forget, sizeof(args.forget) };
    return call(s, FUSE_HIPRIO_QUEUE, FUSE_FORGET, node, &in, 1, NULL, 0, NULL);
}
