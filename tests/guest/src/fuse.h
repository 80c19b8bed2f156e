/*
 * The FUSE wire format this guest speaks (Linux include/uapi/linux/fuse.h, protocol 7.31):
 * a request is fuse_in_header + the opcode's arguments; a reply is fuse_out_header + the
 * opcode's result, or the header alone with a negative errno. Over virtio-fs the request is the
 * device-readable part of one descriptor chain and the reply its device-writable part.
 */
#ifndef GUEST_FUSE_H
#define GUEST_FUSE_H

#include "types.h"

#define FUSE_KERNEL_VERSION 7
/* The minor we claim. virtiofsd refuses anything older than 7.31, and from 7.36 on fuse_init_in
 * grows, so 7.31 is the one layout every virtiofsd accepts. */
#define FUSE_CLIENT_MINOR 31
#define FUSE_ROOT_ID 1

#define FUSE_LOOKUP 1
#define FUSE_FORGET 2                   /* no reply */
#define FUSE_GETATTR 3
#define FUSE_OPEN 14
#define FUSE_READ 15
#define FUSE_WRITE 16
#define FUSE_RELEASE 18
#define FUSE_INIT 26
#define FUSE_CREATE 35

/* fuse_init_in/out flags */
#define FUSE_MAX_PAGES (1U << 22)
/* Linux's request size when the daemon does not say (FUSE_DEFAULT_MAX_PAGES_PER_REQ). */
#define FUSE_DEFAULT_MAX_PAGES 32

/* open(2) flags and modes as the daemon (Linux) reads them. */
#define FUSE_O_RDONLY 00
#define FUSE_O_WRONLY 01
#define FUSE_O_CREAT 0100
#define FUSE_O_TRUNC 01000
#define FUSE_S_IFMT 0170000
#define FUSE_S_IFREG 0100000
#define FUSE_S_IFDIR 0040000

struct fuse_in_header {
    u32 len;
    u32 opcode;
    u64 unique;
    u64 nodeid;
    u32 uid;
    u32 gid;
    u32 pid;
    u32 padding;
};

struct fuse_out_header {
    u32 len;
    i32 error;                          /* 0 or a negative errno */
    u64 unique;
};

struct fuse_attr {
    u64 ino;
    u64 size;
    u64 blocks;
    u64 atime;
    u64 mtime;
    u64 ctime;
    u32 atimensec;
    u32 mtimensec;
    u32 ctimensec;
    u32 mode;
    u32 nlink;
    u32 uid;
    u32 gid;
    u32 rdev;
    u32 blksize;
    u32 flags;
};

struct fuse_entry_out {
    u64 nodeid;
    u64 generation;
    u64 entry_valid;
    u64 attr_valid;
    u32 entry_valid_nsec;
    u32 attr_valid_nsec;
    struct fuse_attr attr;
};

struct fuse_forget_in {
    u64 nlookup;
};

struct fuse_getattr_in {
    u32 getattr_flags;
    u32 dummy;
    u64 fh;
};

struct fuse_attr_out {
    u64 attr_valid;
    u32 attr_valid_nsec;
    u32 dummy;
    struct fuse_attr attr;
};

struct fuse_open_in {
    u32 flags;
    u32 open_flags;
};

struct fuse_create_in {
    u32 flags;
    u32 mode;
    u32 umask;
    u32 open_flags;
};

struct fuse_open_out {
    u64 fh;
    u32 open_flags;
    u32 padding;
};

struct fuse_release_in {
    u64 fh;
    u32 flags;
    u32 release_flags;
    u64 lock_owner;
};

struct fuse_read_in {
    u64 fh;
    u64 offset;
    u32 size;
    u32 read_flags;
    u64 lock_owner;
    u32 flags;
    u32 padding;
};

struct fuse_write_in {
    u64 fh;
    u64 offset;
    u32 size;
    u32 write_flags;
    u64 lock_owner;
    u32 flags;
    u32 padding;
};

struct fuse_write_out {
    u32 size;
    u32 padding;
};

struct fuse_init_in {
    u32 major;
    u32 minor;
    u32 max_readahead;
    u32 flags;
};

struct fuse_init_out {
    u32 major;
    u32 minor;
    u32 max_readahead;
    u32 flags;
    u16 max_background;
    u16 congestion_threshold;
    u32 max_write;
    u32 time_gran;
    u16 max_pages;
    u16 map_alignment;
    u32 unused[8];
};
/* The shortest init reply that carries max_write (FUSE_COMPAT_22_INIT_OUT_SIZE). */
#define FUSE_INIT_OUT_MIN 24

/* The layouts the daemon relies on, checked at compile time. */
_Static_assert(sizeof(struct fuse_in_header) == 40, "fuse_in_header");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header");
_Static_assert(sizeof(struct fuse_attr) == 88, "fuse_attr");
_Static_assert(sizeof(struct fuse_entry_out) == 128, "fuse_entry_out");
_Static_assert(sizeof(struct fuse_attr_out) == 104, "fuse_attr_out");
_Static_assert(sizeof(struct fuse_read_in) == 40, "fuse_read_in");
_Static_assert(sizeof(struct fuse_write_in) == 40, "fuse_write_in");
_Static_assert(sizeof(struct fuse_release_in) == 24, "fuse_release_in");
_Static_assert(sizeof(struct fuse_create_in) == 16, "fuse_create_in");
_Static_assert(sizeof(struct fuse_init_out) == 64, "fuse_init_out");

#endif
