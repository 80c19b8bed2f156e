package io.jvmm.devices.blk.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;

/**
 * A qcow2 header (QEMU docs/interop/qcow2.txt), versions 2 and 3, with the extensions we read:
 * the backing file's format, the external data file's name. Feature bits we support are named
 * here; any other incompatible bit makes the image refused, naming the bit.
 */
final class Qcow2Header {
    static final int MAGIC = 0x514649fb;   // "QFI\xfb"
    static final long INCOMPAT_DIRTY = 1;
    static final long INCOMPAT_CORRUPT = 1 << 1;
    static final long INCOMPAT_DATA_FILE = 1 << 2;
    static final long INCOMPAT_COMPRESSION = 1 << 3;
    static final long INCOMPAT_EXTL2 = 1 << 4;
    static final long COMPAT_LAZY_REFCOUNTS = 1;
    static final long AUTOCLEAR_BITMAPS = 1;
    static final long AUTOCLEAR_DATA_FILE_RAW = 1 << 1;
    static final int EXT_END = 0;
    static final int EXT_BACKING_FORMAT = 0xe2792aca;
    static final int EXT_FEATURE_TABLE = 0x6803f857;
    static final int EXT_DATA_FILE = 0x44415441;
    static final int COMPRESSION_ZLIB = 0;
    static final int COMPRESSION_ZSTD = 1;
    static final long MAX_L1_ENTRIES = 1 << 25;
    static final long MAX_REFTABLE_BYTES = 64L << 20;

    int version;
    long backingFileOffset;
    int backingFileSize;
    int clusterBits;
    long size;
    int cryptMethod;
    int l1Size;
    long l1Offset;
    long refTableOffset;
    int refTableClusters;
    int snapshots;
    long snapshotsOffset;
    long incompatible;
    long compatible;
    long autoclear;
    int refcountOrder = 4;
    int headerLength = 72;
    int compressionType = COMPRESSION_ZLIB;
    String backingFile;
    String backingFormat;
    String dataFile;

    static Qcow2Header read(FileChannel f, String where) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4096);
        f.read(b, 0);
        b.flip();
        if (b.remaining() < 72 || b.getInt(0) != MAGIC) {
            throw new IllegalArgumentException(where + " is not a qcow2 image (no QFI\\xfb magic)");
        }
        Qcow2Header h = new Qcow2Header();
        h.version = b.getInt(4);
        if (h.version != 2 && h.version != 3) {
            throw new IllegalArgumentException(where + ": qcow2 version " + h.version + " is not supported (2 or 3)");
        }
        h.backingFileOffset = b.getLong(8);
        h.backingFileSize = b.getInt(16);
        h.clusterBits = b.getInt(20);
        h.size = b.getLong(24);
        h.cryptMethod = b.getInt(32);
        h.l1Size = b.getInt(36);
        h.l1Offset = b.getLong(40);
        h.refTableOffset = b.getLong(48);
        h.refTableClusters = b.getInt(56);
        h.snapshots = b.getInt(60);
        h.snapshotsOffset = b.getLong(64);
        if (h.version >= 3) {
            if (b.remaining() < 104) {
                throw new IllegalArgumentException(where + ": truncated qcow2 v3 header");
            }
            h.incompatible = b.getLong(72);
            h.compatible = b.getLong(80);
            h.autoclear = b.getLong(88);
            h.refcountOrder = b.getInt(96);
            h.headerLength = b.getInt(100);
            if (h.headerLength < 104 || h.headerLength > 4096 - 8) {
                throw new IllegalArgumentException(where + ": qcow2 header length " + h.headerLength + " is not valid");
            }
            if (h.headerLength > b.limit()) {
                // Found by Qcow2ImageFuzzTest: the header claims more bytes than the image has.
                throw new IllegalArgumentException(where + ": truncated qcow2 header (header_length " + h.headerLength
                        + ", the image has " + b.limit() + " bytes)");
            }
            if (h.headerLength > 104) {
                h.compressionType = b.get(104) & 0xff;
            }
        }
        h.validate(where);
        // extensions
        int pos = h.version >= 3 ? h.headerLength : 72;
        pos = (pos + 7) & ~7;
        while (pos + 8 <= b.limit()) {
            int type = b.getInt(pos);
            int len = b.getInt(pos + 4);
            if (type == EXT_END) {
                break;
            }
            if (len < 0 || pos + 8 + len > b.limit()) {
                throw new IllegalArgumentException(where + ": qcow2 header extension 0x" + Integer.toHexString(type) + " overruns the header");
            }
            byte[] data = new byte[len];
            b.get(pos + 8, data);
            if (type == EXT_BACKING_FORMAT) {
                h.backingFormat = new String(data, StandardCharsets.UTF_8);
            } else if (type == EXT_DATA_FILE) {
                h.dataFile = new String(data, StandardCharsets.UTF_8);
            }
            pos += 8 + ((len + 7) & ~7);
        }
        if (h.backingFileOffset != 0) {
            // backing_file_offset is a u64: read as a long, a huge one is negative (found by Qcow2ImageFuzzTest).
            if (h.backingFileSize <= 0 || h.backingFileSize > 1023 || h.backingFileOffset < 0
                    || h.backingFileOffset + h.backingFileSize > (1L << h.clusterBits)) {
                throw new IllegalArgumentException(where + ": backing file name of " + h.backingFileSize + " bytes at "
                        + h.backingFileOffset + " is not valid");
            }
            ByteBuffer n = ByteBuffer.allocate(h.backingFileSize);
            f.read(n, h.backingFileOffset);
            h.backingFile = new String(n.array(), 0, n.position(), StandardCharsets.UTF_8);
        }
        return h;
    }

    private void validate(String where) {
        if (clusterBits < 9 || clusterBits > 21) {
            throw new IllegalArgumentException(where + ": cluster_bits " + clusterBits + " is not from 9 to 21");
        }
        if (cryptMethod != 0) {
            throw new IllegalArgumentException(where + ": encrypted qcow2 images (crypt_method " + cryptMethod + ") are not supported");
        }
        if (size < 0) {
            throw new IllegalArgumentException(where + ": negative virtual size");
        }
        if (l1Size < 0 || l1Size > MAX_L1_ENTRIES) {
            throw new IllegalArgumentException(where + ": l1_size " + l1Size + " is not valid");
        }
        long cs = 1L << clusterBits;
        if (l1Offset % cs != 0 || refTableOffset % cs != 0 || refTableOffset == 0) {
            throw new IllegalArgumentException(where + ": the L1 or refcount table is not cluster aligned");
        }
        if (refTableClusters <= 0 || refTableClusters * cs > MAX_REFTABLE_BYTES) {
            throw new IllegalArgumentException(where + ": refcount_table_clusters " + refTableClusters + " is not valid");
        }
        if (refcountOrder < 0 || refcountOrder > 6) {
            throw new IllegalArgumentException(where + ": refcount_order " + refcountOrder + " is not from 0 to 6");
        }
        long known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;
        long unknown = incompatible & ~known;
        if (unknown != 0) {
            throw new IllegalArgumentException(where + ": unsupported qcow2 incompatible feature bit " + Long.numberOfTrailingZeros(unknown)
                    + " (supported: 0 dirty, 2 external data file, 3 compression type, 4 extended L2 entries)");
        }
        if ((incompatible & INCOMPAT_CORRUPT) != 0) {
            throw new IllegalArgumentException(where + ": the image is marked corrupt (incompatible feature bit 1); "
                    + "repair it with qemu-img check -r all");
        }
        if (compressionType != COMPRESSION_ZLIB && compressionType != COMPRESSION_ZSTD) {
            throw new IllegalArgumentException(where + ": compression type " + compressionType + " is not supported (zlib, zstd)");
        }
        if (compressionType != COMPRESSION_ZLIB && (incompatible & INCOMPAT_COMPRESSION) == 0) {
            throw new IllegalArgumentException(where + ": compression type " + compressionType + " without incompatible feature bit 3");
        }
        if ((incompatible & INCOMPAT_EXTL2) != 0 && clusterBits < 14) {
            throw new IllegalArgumentException(where + ": extended L2 entries need clusters of at least 16 KiB");
        }
    }

    boolean dirty() {
        return (incompatible & INCOMPAT_DIRTY) != 0;
    }

    boolean extendedL2() {
        return (incompatible & INCOMPAT_EXTL2) != 0;
    }
}
