/* The bench=N option: N sequential 4 KiB virtio-blk reads, one in flight, each completed by its
 * MSI-X interrupt, timed with the guest's own clock (the TSC, its rate measured against the PIT). */
#ifndef GUEST_BLK_BENCH_H
#define GUEST_BLK_BENCH_H

#include "virtio.h"

#define BLK_BENCH_MAX_READS 1000000

/* Runs the reads on a set-up virtio-blk device and prints the one "bench:" line. Needs the APIC
 * timer running and interrupts enabled. Returns NULL or what failed. */
const char *blk_bench_run(struct virtio_device *v, u32 reads);

#endif
