/*
 * fuzz_archive.c - libFuzzer target for the archive walker (tar, 7z, cpio, ar through libarchive; gzip, bzip2, xz, lzma, zstd, lz4 and zlib streams), member names, links, duplicates and bomb limits.
 * Seeded with fuzz/corpus/archive/.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_scan(data, size, "fuzz.archive");
    return 0;
}
