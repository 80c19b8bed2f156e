#include "fs_verify.h"

/* The first `bytes` (1..7) bytes of a little-endian word; the rest zero. */
static u64 low_bytes(u64 word, u64 bytes)
{
    return word & ((1UL << (8 * bytes)) - 1);
}

u64 fs_verify_chunk(void *arg)
{
    struct fs_chunk_job *job = arg;
    const u64 *w = (const u64 *)job->buf;
    u64 words = job->len / 8, tail = job->len % 8, first = job->offset / 8;
    struct fs_checksum sum = job->sum;  /* a local copy stays in registers */
    for (u64 i = 0; i < words; i++) {
        u64 got = w[i], expected = fs_pattern_word(job->seed, first + i);
        if (got != expected) {
            job->mismatch = job->offset + 8 * i;
            job->found = got;
            job->expected = expected;
            return 1;
        }
        fs_checksum_add(&sum, got);
    }
    if (tail) {
        u64 got = low_bytes(w[words], tail);
        u64 expected = low_bytes(fs_pattern_word(job->seed, first + words), tail);
        if (got != expected) {
            job->mismatch = job->offset + 8 * words;
            job->found = got;
            job->expected = expected;
            return 1;
        }
        fs_checksum_add(&sum, got);
    }
    job->sum = sum;
    job->mismatch = FS_NO_MISMATCH;
    return 0;
}

u64 fs_fill_chunk(void *arg)
{
    struct fs_chunk_job *job = arg;
    u64 *w = (u64 *)job->buf;
    u64 words = job->len / 8, tail = job->len % 8, first = job->offset / 8;
    for (u64 i = 0; i < words; i++)
        w[i] = fs_pattern_word(job->seed, first + i);
    if (tail) {
        u64 last = fs_pattern_word(job->seed, first + words);
        for (u64 k = 0; k < tail; k++)
            job->buf[8 * words + k] = (u8)(last >> (8 * k));
    }
    return 0;
}
