/*
 * A minimal FUSE client over a virtio-fs device: one request in flight, each request one
 * descriptor chain (request buffers, then reply buffers). Every reply is checked - its unique,
 * its length against the used-ring length and against what the opcode returns - and a daemon
 * error is printed with its errno before the call returns what failed.
 */
#ifndef GUEST_FUSE_CLIENT_H
#define GUEST_FUSE_CLIENT_H

#include "fuse.h"
#include "virtio.h"

/* virtio-fs queues: 0 is the high-priority queue (FORGET, INTERRUPT), 1 the first request queue. */
#define FUSE_HIPRIO_QUEUE 0
#define FUSE_REQUEST_QUEUE 1

struct fuse_session {
    struct virtio_device *dev;
    u64 next_unique;
    u32 minor;                          /* what the daemon answered to INIT */
    u32 flags;                          /* INIT reply flags */
    u32 max_write;
    u32 max_read;                       /* bytes per READ: max_pages pages, or Linux's default */
};

/* FUSE_INIT: claims 7.31, asks for FUSE_MAX_PAGES. Fails unless the daemon speaks 7.31 or later. */
const char *fuse_init(struct fuse_session *s, struct virtio_device *dev);
const char *fuse_lookup(struct fuse_session *s, u64 parent, const char *name, struct fuse_entry_out *entry);
const char *fuse_getattr(struct fuse_session *s, u64 node, struct fuse_attr *attr);
const char *fuse_open(struct fuse_session *s, u64 node, u32 flags, u64 *fh);
/* Reads up to size bytes (at most max_read) at offset into buf; *got is what the daemon sent. */
const char *fuse_read(struct fuse_session *s, u64 node, u64 fh, u64 offset, void *buf, u32 size, u32 *got);
const char *fuse_create(struct fuse_session *s, u64 parent, const char *name, u32 flags, u32 mode,
                        struct fuse_entry_out *entry, u64 *fh);
/* Writes size bytes (at most max_write); fails unless the daemon took all of them. */
const char *fuse_write(struct fuse_session *s, u64 node, u64 fh, u64 offset, const void *buf, u32 size);
const char *fuse_release(struct fuse_session *s, u64 node, u64 fh, u32 flags);
/* FORGET on the high-priority queue: drops nlookup references to node. It has no reply; the
 * device still returns the chain, with used length 0. */
const char *fuse_forget(struct fuse_session *s, u64 node, u64 nlookup);

#endif
