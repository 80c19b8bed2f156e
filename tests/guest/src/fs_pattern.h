/*
 * The bytes of the file the guest reads through virtio-fs and of the file it writes there, and
 * the checksum it prints, shared with the host tool (tools/fs-pattern.c) so both compute them
 * from one definition. No guest types: the host compiles this too.
 *
 * A stream is a sequence of 64-bit little-endian words; word i of the stream with seed S is
 *     S ^ (i * FS_PATTERN_STEP)
 * (an odd multiplier: every word of a file differs, so a chunk read from or written to the wrong
 * offset does not match). A file of n bytes holds the first n bytes of its stream.
 *
 * The checksum runs over the file's 64-bit words (the last one zero-padded if the size is not a
 * multiple of 8): h = FNV basis; for each word h = (h ^ w) * FNV prime, then h ^= h >> 29 (so low
 * bits depend on high ones too: plain FNV over this pattern leaves its low bits unmixed). Every
 * step is bijective, so a change to any one word always changes the result, and it depends on
 * the order of the words.
 */
#ifndef GUEST_FS_PATTERN_H
#define GUEST_FS_PATTERN_H

#define FS_SOURCE_SEED 0x6a766d6d66737263ULL    /* "jvmmfsrc": the file the host shares */
#define FS_WRITTEN_SEED 0x6a766d6d66737772ULL   /* "jvmmfswr": the file the guest creates */
#define FS_PATTERN_STEP 0x9E3779B97F4A7C15ULL
/* What the guest writes: over one 1 MiB WRITE, and not a whole number of words. */
#define FS_WRITTEN_BYTES (1024ULL * 1024 + 4096 + 13)

static inline unsigned long long fs_pattern_word(unsigned long long seed, unsigned long long index)
{
    return seed ^ (index * FS_PATTERN_STEP);
}

#define FS_CHECKSUM_BASIS 0xcbf29ce484222325ULL
#define FS_CHECKSUM_PRIME 0x100000001b3ULL
#define FS_CHECKSUM_SHIFT 29

struct fs_checksum {
    unsigned long long h;
};

static inline void fs_checksum_init(struct fs_checksum *c)
{
    c->h = FS_CHECKSUM_BASIS;
}

static inline void fs_checksum_add(struct fs_checksum *c, unsigned long long word)
{
    c->h = (c->h ^ word) * FS_CHECKSUM_PRIME;
    c->h ^= c->h >> FS_CHECKSUM_SHIFT;
}

#endif
