/* Host tool: writes to stdout the 4 KiB the guest writes to sectors 1..8 of a virtio-blk disk
 * (src/pattern.h), so a script can compare the disk image with what the guest must have put
 * there: cmp <(dd if=disk.img bs=512 skip=1 count=8) <(build/blk-pattern). */
#include <stdio.h>
#include "../src/pattern.h"

int main(void)
{
    for (unsigned s = 0; s < BLK_PATTERN_SECTORS; s++)
        for (unsigned i = 0; i < BLK_WORDS_PER_SECTOR; i++) {
            unsigned long long w = blk_pattern_word(BLK_PATTERN_FIRST_SECTOR + s, i);
            for (int b = 0; b < 8; b++)
                if (putchar((int)((w >> (8 * b)) & 0xFF)) == EOF)
                    return 1;
        }
    return fflush(stdout) ? 1 : 0;
}
