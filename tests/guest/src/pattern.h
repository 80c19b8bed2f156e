/*
 * The data the guest writes to sectors 1..8 of a virtio-blk disk, shared with the host-side
 * checker (tools/blk-pattern.c) so both compute it from one definition. Each 512-byte sector is
 * 64 little-endian 64-bit words; word i of sector s is
 *     BLK_PATTERN_SEED ^ (s << 32) ^ i
 * so a sector written to the wrong place, or a word shifted within one, does not match.
 */
#ifndef GUEST_PATTERN_H
#define GUEST_PATTERN_H

#define BLK_PATTERN_SEED 0x6a766d6d5eed0000ULL
#define BLK_PATTERN_FIRST_SECTOR 1
#define BLK_PATTERN_SECTORS 8
#define BLK_SECTOR_SIZE 512
#define BLK_WORDS_PER_SECTOR (BLK_SECTOR_SIZE / 8)

static inline unsigned long long blk_pattern_word(unsigned long long sector, unsigned long long index)
{
    return BLK_PATTERN_SEED ^ (sector << 32) ^ index;
}

#endif
