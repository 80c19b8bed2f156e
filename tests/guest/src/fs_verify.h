/*
 * The bulk work of the virtio-fs check over one buffer: verifying a chunk of the shared file
 * against its pattern (with the running checksum), and filling a chunk of the file the guest
 * writes. Plain C that touches only the job and its buffer, so usermode_call() can run it at
 * CPL3 (native speed under PVM); it runs at CPL0 just as well.
 */
#ifndef GUEST_FS_VERIFY_H
#define GUEST_FS_VERIFY_H

#include "fs_pattern.h"
#include "types.h"

#define FS_NO_MISMATCH (~0UL)

struct fs_chunk_job {
    u64 seed;                           /* which stream (fs_pattern.h) */
    u64 offset;                         /* file offset of buf[0]; a multiple of 8 */
    u8 *buf;
    u64 len;                            /* bytes; only the file's last chunk may end mid-word */
    struct fs_checksum sum;             /* running over the whole file (verify only) */
    u64 mismatch;                       /* verify: file offset of the first wrong word, or FS_NO_MISMATCH */
    u64 found, expected;                /* verify: that word as read and as it should be */
};

/* Checks job->buf against the stream and adds its words to job->sum. Returns 0 if every byte
 * matches, 1 after recording the first mismatch. */
u64 fs_verify_chunk(void *job);
/* Fills job->buf with the stream's bytes [offset, offset + len). Returns 0. */
u64 fs_fill_chunk(void *job);

#endif
