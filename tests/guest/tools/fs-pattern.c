/* Host tool for the virtio-fs check (src/fs_pattern.h):
 *   fs-pattern source BYTES     the file the host shares (fs=FILE), to stdout
 *   fs-pattern written          what the guest writes to its new file, to stdout
 *   fs-pattern checksum         the checksum the guest prints, of the file on stdin
 * so a script can make the shared file, compare the guest's file with cmp, and check the
 * guest's checksum=... line against the file it read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../src/fs_pattern.h"

static int usage(void)
{
    fprintf(stderr, "usage: fs-pattern source BYTES | fs-pattern written | fs-pattern checksum <FILE\n");
    return 2;
}

static int write_stream(unsigned long long seed, unsigned long long bytes)
{
    static unsigned char buf[1 << 16];
    unsigned long long word = 0;
    while (bytes) {
        size_t n = 0;
        while (n + 8 <= sizeof(buf) && n < bytes) {
            unsigned long long w = fs_pattern_word(seed, word++);
            for (int b = 0; b < 8; b++)
                buf[n + b] = (unsigned char)(w >> (8 * b));
            n += 8;
        }
        if (n > bytes)
            n = bytes;                  /* the file ends inside its last word */
        if (fwrite(buf, 1, n, stdout) != n)
            return 1;
        bytes -= n;
    }
    return fflush(stdout) ? 1 : 0;
}

static int checksum(void)
{
    static unsigned char buf[1 << 16];
    struct fs_checksum sum;
    size_t have = 0, n;
    fs_checksum_init(&sum);
    /* Whole words as they come; a short last word is zero-padded, as the guest does. */
    while ((n = fread(buf + have, 1, sizeof(buf) - have, stdin)) > 0) {
        have += n;
        size_t whole = have - have % 8;
        for (size_t i = 0; i < whole; i += 8) {
            unsigned long long w = 0;
            for (int b = 0; b < 8; b++)
                w |= (unsigned long long)buf[i + b] << (8 * b);
            fs_checksum_add(&sum, w);
        }
        memmove(buf, buf + whole, have - whole);
        have -= whole;
    }
    if (ferror(stdin))
        return 1;
    if (have) {
        unsigned long long w = 0;
        for (size_t b = 0; b < have; b++)
            w |= (unsigned long long)buf[b] << (8 * b);
        fs_checksum_add(&sum, w);
    }
    printf("%016llx\n", sum.h);
    return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "source") == 0) {
        char *end;
        unsigned long long bytes = strtoull(argv[2], &end, 0);
        if (*argv[2] == '-' || *end || end == argv[2])
            return usage();
        return write_stream(FS_SOURCE_SEED, bytes);
    }
    if (argc == 2 && strcmp(argv[1], "written") == 0)
        return write_stream(FS_WRITTEN_SEED, FS_WRITTEN_BYTES);
    if (argc == 2 && strcmp(argv[1], "checksum") == 0)
        return checksum();
    return usage();
}
