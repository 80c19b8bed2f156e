#include "virtio_blk.h"
#include "console.h"
#include "pattern.h"

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_S_OK 0
#define BLK_F_RO (1UL << 5)
#define BLK_CONFIG_CAPACITY 0
#define TEST_BYTES (BLK_PATTERN_SECTORS * BLK_SECTOR_SIZE)
#define TEST_WORDS (TEST_BYTES / 8)
#define SECTOR0_SHOWN 16

struct blk_request_header {
    u32 type;
    u32 reserved;
    u64 sector;
};

static struct blk_request_header header;
static volatile u8 status;
static u64 write_buffer[TEST_WORDS] ALIGNED(4096);
static u64 read_buffer[TEST_WORDS] ALIGNED(4096);

static const char *request(struct virtio_device *v, u32 type, u64 sector, void *buf, u32 len)
{
    header.type = type;
    header.reserved = 0;
    header.sector = sector;
    status = 0xFF;                      /* the device must overwrite it */
    struct virtq_buf bufs[3] = {
        { &header, sizeof(header), 0 },
        { buf, len, type == BLK_T_IN },
        { &status, 1, 1 },
    };
    u32 used_len;
    const char *err = virtq_transfer(v, 0, bufs, 3, &used_len);
    if (err)
        return err;
    if (status != BLK_S_OK) {
        kprintf("%s: %s of sector %lu: status %u\n", v->tag, type == BLK_T_IN ? "read" : "write", sector, status);
        return "request completed with a status other than VIRTIO_BLK_S_OK";
    }
    /* The used length counts what the device wrote: the data of a read, and the status byte. */
    u32 expected = (type == BLK_T_IN ? len : 0) + 1;
    if (used_len != expected) {
        kprintf("%s: %s of sector %lu: used length %u, expected %u\n", v->tag, type == BLK_T_IN ? "read" : "write",
                sector, used_len, expected);
        return "used-ring length does not match the bytes the device had to write";
    }
    return NULL;
}

static void poison(u64 *buf, u32 words)
{
    for (u32 i = 0; i < words; i++)
        buf[i] = ~0UL;
}

const char *virtio_blk_capacity(struct virtio_device *v, u64 *sectors)
{
    return virtio_config_read64(v, BLK_CONFIG_CAPACITY, sectors);
}

const char *virtio_blk_read(struct virtio_device *v, u64 sector, void *buf, u32 len)
{
    return request(v, BLK_T_IN, sector, buf, len);
}

const char *virtio_blk_test(struct virtio_device *v)
{
    u64 capacity;
    const char *err = virtio_blk_capacity(v, &capacity);
    if (err)
        return err;
    if (capacity < BLK_PATTERN_FIRST_SECTOR + BLK_PATTERN_SECTORS) {
        kprintf("%s: capacity %lu sectors\n", v->tag, capacity);
        return "disk is smaller than the 9 sectors the check uses";
    }

    int read_only = (v->device_features & BLK_F_RO) != 0;
    if (!read_only) {
        for (u32 s = 0; s < BLK_PATTERN_SECTORS; s++)
            for (u32 i = 0; i < BLK_WORDS_PER_SECTOR; i++)
                write_buffer[s * BLK_WORDS_PER_SECTOR + i] = blk_pattern_word(BLK_PATTERN_FIRST_SECTOR + s, i);
        if ((err = request(v, BLK_T_OUT, BLK_PATTERN_FIRST_SECTOR, write_buffer, TEST_BYTES)))
            return err;
        poison(read_buffer, TEST_WORDS);
        if ((err = request(v, BLK_T_IN, BLK_PATTERN_FIRST_SECTOR, read_buffer, TEST_BYTES)))
            return err;
        for (u32 i = 0; i < TEST_WORDS; i++)
            if (read_buffer[i] != write_buffer[i]) {
                kprintf("%s: read back 0x%lx at byte %u of sector %u, wrote 0x%lx\n", v->tag, read_buffer[i],
                        (i % BLK_WORDS_PER_SECTOR) * 8, BLK_PATTERN_FIRST_SECTOR + i / BLK_WORDS_PER_SECTOR,
                        write_buffer[i]);
                return "data read back differs from what was written";
            }
    }

    poison(read_buffer, BLK_WORDS_PER_SECTOR);
    if ((err = request(v, BLK_T_IN, 0, read_buffer, BLK_SECTOR_SIZE)))
        return err;
    kprintf("blk: sector0 ");
    print_hex_bytes(read_buffer, SECTOR0_SHOWN);
    kprintf("\n");
    if (read_only)
        kprintf("blk: capacity=%lu read-only, read ok\n", capacity);
    else
        kprintf("blk: capacity=%lu write+read ok\n", capacity);
    return NULL;
}
