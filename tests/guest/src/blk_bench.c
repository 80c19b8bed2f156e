#include "blk_bench.h"
#include "console.h"
#include "cpu.h"
#include "tsc.h"
#include "virtio_blk.h"

#define READ_BYTES 4096
#define READ_SECTORS (READ_BYTES / 512)
#define WORDS (READ_BYTES / 8)
/* Written to the first and last word before each read: the device must overwrite both. An
 * image word equal to it would fail the check, which no ordinary disk content does. */
#define POISON 0x504f49534f4e2121UL

static u64 buffer[WORDS] ALIGNED(4096);

const char *blk_bench_run(struct virtio_device *v, u32 reads)
{
    u64 capacity;
    const char *err = virtio_blk_capacity(v, &capacity);
    if (err)
        return err;
    u64 span = capacity - capacity % READ_SECTORS;     /* whole 4 KiB blocks, read in a cycle */
    if (span == 0)
        return "disk is smaller than one 4 KiB read";

    u64 tsc_khz;
    if ((err = tsc_measure_khz(&tsc_khz)))
        return err;
    u64 start = rdtsc();
    u64 sector = 0;
    for (u32 i = 0; i < reads; i++) {
        buffer[0] = buffer[WORDS - 1] = POISON;
        if ((err = virtio_blk_read(v, sector, buffer, READ_BYTES))) {
            kprintf("%s: bench read %u of %u (sector %lu) failed\n", v->tag, i + 1, reads, sector);
            return err;
        }
        if (buffer[0] == POISON || buffer[WORDS - 1] == POISON) {
            kprintf("%s: bench read %u (sector %lu) left the buffer poisoned\n", v->tag, i + 1, sector);
            return "a completed read did not write its buffer";
        }
        sector += READ_SECTORS;
        if (sector >= span)
            sector = 0;
    }
    u64 end = rdtsc();
    if (end <= start)
        return "the TSC did not advance during the reads";
    /* cycles * 1e6 / kHz stays below 2^64 for any run shorter than an hour at 4 GHz. */
    u64 ns = (end - start) * 1000000UL / tsc_khz;
    if (ns == 0)
        ns = 1;
    kprintf("bench: blk-reads=%u bytes=%u tsc=%lu tsc-khz=%lu ns=%lu reads-per-s=%lu\n", reads, READ_BYTES,
            end - start, tsc_khz, ns, (u64)reads * 1000000000UL / ns);
    return NULL;
}
