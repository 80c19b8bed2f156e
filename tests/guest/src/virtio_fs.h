/*
 * The virtio-fs check (option fs=FILE): FUSE spoken by the guest itself over the device's
 * request queue, with FORGETs on the high-priority queue.
 *
 *   INIT; LOOKUP FILE in the shared directory; GETATTR (size); OPEN; READ the whole file in
 *   max_pages-sized requests, every word checked against the host's pattern (fs_pattern.h) and
 *   summed into a checksum; READ at the end must return 0 bytes; RELEASE; FORGET.
 *   CREATE a new file; WRITE known content (the "written" stream); RELEASE; GETATTR (size);
 *   FORGET. Then N cycles of device reset, re-initialisation and INIT + GETATTR of the root.
 *
 * Options: fs=FILE (enables the check), fs-write=NAME (default jvmm-guest-wrote), fs-resets=N
 * (default 10), fs-verify=cpl3|cpl0 (where the bulk checking and filling runs; cpl0 is there to
 * measure what user mode saves under PVM).
 */
#ifndef GUEST_VIRTIO_FS_H
#define GUEST_VIRTIO_FS_H

#include "bootinfo.h"
#include "virtio.h"

#define FS_QUEUES 2                     /* hiprio + one request queue */
#define FS_BUFFER_BYTES (2 * MIB)       /* where READs land and WRITE data is built */
#define FS_NAME_MAX 64
#define FS_DEFAULT_RESETS 10
#define FS_MAX_RESETS 1000

struct fs_options {
    int enabled;
    char file[FS_NAME_MAX];
    char written[FS_NAME_MAX];
    u32 resets;
    int verify_at_cpl0;
};

/* Reads the fs options from the command line. Returns NULL or what is malformed. */
const char *virtio_fs_options(const struct bootinfo *bi, struct fs_options *o);

/* Runs the check on a device set up with FS_QUEUES queues, printing its result lines. buffer is
 * FS_BUFFER_BYTES of RAM that nothing else uses. Returns NULL or what failed. */
const char *virtio_fs_test(struct virtio_device *v, const struct fs_options *o, u8 *buffer);

#endif
