package io.jvmm.devices.blk.qcow2;

import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.BlockExtent;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * The qcow2 metadata engine: L1/L2 look-ups, cluster allocation, refcounts, zero and compressed
 * clusters, extended L2 entries (subclusters), an external data file and the backing file. It is
 * confined to one thread (the {@link Qcow2Backend}'s worker), so it takes no locks.
 *
 * <p>Crash safety (kill -9 at any point leaves at most leaked clusters): a new cluster is always
 * taken past the end of the file, and each allocation writes, in order, the data, then the
 * refcount, then the reference (L2 entry, L1 entry, refcount table entry, header); a freed
 * cluster's reference is removed before its refcount is decremented. Refcounts are kept exact even
 * when the image has lazy refcounts, so we never set the dirty bit.
 */
final class Qcow2Image {
    static final long OFFSET_MASK = 0x00fffffffffffe00L;
    static final long COPIED = 1L << 63;
    static final long COMPRESSED = 1L << 62;
    static final long ZERO = 1L;
    private static final int L2_CACHE_TABLES = 64;
    private static final int REFBLOCK_CACHE = 64;

    final String where;
    final Qcow2Header h;
    private final FileChannel file;
    private final FileChannel data;   // the external data file, or the image itself
    private final boolean externalData;
    private final boolean writable;
    final BlockBackend backing;
    private final int clusterBits;
    final int clusterSize;
    private final boolean extL2;
    private final int l2Entries;
    private final int entryBytes;
    private final long[] l1;
    private long[] refTable;
    private long refTableOffset;
    private final int refcountBits;
    private final long refblockEntries;
    private long endCluster;
    private final Map<Long, long[]> l2Cache = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, long[]> e) {
            return size() > L2_CACHE_TABLES;
        }
    };
    private final Map<Long, byte[]> refblocks = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, byte[]> e) {
            return size() > REFBLOCK_CACHE;
        }
    };
    private long compressedCacheEntry = -1;
    private final byte[] compressedCache;

    Qcow2Image(String where, Qcow2Header h, FileChannel file, FileChannel data, boolean writable, BlockBackend backing) throws IOException {
        this.where = where;
        this.h = h;
        this.file = file;
        this.externalData = data != null;
        this.data = data == null ? file : data;
        this.writable = writable;
        this.backing = backing;
        this.clusterBits = h.clusterBits;
        this.clusterSize = 1 << clusterBits;
        this.extL2 = h.extendedL2();
        this.entryBytes = extL2 ? 16 : 8;
        this.l2Entries = clusterSize / entryBytes;
        this.refcountBits = 1 << h.refcountOrder;
        this.refblockEntries = (long) clusterSize * 8 / refcountBits;
        this.compressedCache = new byte[clusterSize];
        long needL1 = (h.size + ((long) l2Entries << clusterBits) - 1) / ((long) l2Entries << clusterBits);
        if (h.l1Size < needL1) {
            throw new IllegalArgumentException(where + ": l1_size " + h.l1Size + " is too small for " + h.size + " bytes");
        }
        long fileSize = file.size();
        inFile("L1 table", h.l1Offset, (long) h.l1Size * 8, fileSize);
        inFile("refcount table", h.refTableOffset, (long) h.refTableClusters * clusterSize, fileSize);
        this.l1 = readTable(h.l1Offset, h.l1Size);
        this.refTableOffset = h.refTableOffset;
        this.refTable = readTable(h.refTableOffset, (int) ((long) h.refTableClusters * clusterSize / 8));
        this.endCluster = (file.size() + clusterSize - 1) >> clusterBits;
    }

    /**
     * A table the header points to must lie within the file: checked before it is read, so that a
     * corrupt or hostile header cannot make us allocate the hundreds of MiB its limits allow for a
     * table the file does not hold (past the end would read as zeroes).
     */
    private void inFile(String table, long offset, long bytes, long fileSize) {
        if (offset < 0 || bytes < 0 || offset > fileSize || bytes > fileSize - offset) {
            throw new IllegalArgumentException(where + ": the " + table + " (" + bytes + " bytes at offset " + offset
                    + ") extends past the end of the file (" + fileSize + " bytes): the image is truncated or corrupt");
        }
    }

    private long[] readTable(long offset, int entries) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(entries * 8);
        readFully(file, b, offset);
        b.flip();
        long[] t = new long[entries];
        b.asLongBuffer().get(t);
        return t;
    }

    private static void readFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            int n = ch.read(b, pos);
            if (n < 0) {
                while (b.hasRemaining()) {   // past the end of the file reads as zeroes
                    b.put((byte) 0);
                }
                return;
            }
            pos += n;
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            pos += ch.write(b, pos);
        }
    }

    long size() {
        return h.size;
    }

    // ------------------------------------------------------------------ mapping

    /** The L2 table at {@code offset} (cached). */
    private long[] l2Table(long offset) throws IOException {
        long[] t = l2Cache.get(offset);
        if (t == null) {
            if (offset % clusterSize != 0) {
                throw new IOException(where + ": L2 table offset " + offset + " is not cluster aligned (corrupt image)");
            }
            t = readTable(offset, clusterSize / 8);
            l2Cache.put(offset, t);
        }
        return t;
    }

    /** The L2 entry (and bitmap for extended L2) of guest cluster {@code gc}: {entry, bitmap}; {0,0} when unmapped. */
    private long[] entry(long gc) throws IOException {
        int l1i = (int) (gc / l2Entries);
        int l2i = (int) (gc % l2Entries);
        long l2off = l1[l1i] & OFFSET_MASK;
        if (l2off == 0) {
            return new long[] {0, 0};
        }
        long[] t = l2Table(l2off);
        return extL2 ? new long[] {t[2 * l2i], t[2 * l2i + 1]} : new long[] {t[l2i], 0};
    }

    private static final int UNALLOCATED = 0;
    private static final int ZEROES = 1;
    private static final int DATA = 2;

    /** The state of subcluster {@code sc} (0 for a standard entry) of an entry. */
    private int state(long[] e, int sc) {
        long entry = e[0];
        if (extL2) {
            long bitmap = e[1];
            if ((bitmap >>> sc & 1) != 0) {
                return DATA;
            }
            return (bitmap >>> (32 + sc) & 1) != 0 ? ZEROES : UNALLOCATED;
        }
        if ((entry & ZERO) != 0 && h.version >= 3) {
            return ZEROES;
        }
        return (entry & OFFSET_MASK) != 0 ? DATA : UNALLOCATED;
    }

    private int subclusterSize() {
        return extL2 ? clusterSize / 32 : clusterSize;
    }

    // ------------------------------------------------------------------ read

    /** What is done to one cluster's part of a request. */
    @FunctionalInterface
    private interface ClusterOp {
        void apply(long gc, int in, ByteBuffer part) throws IOException;
    }

    /** Splits {@code buf} (guest offset {@code pos}) at cluster boundaries and applies {@code op} to each part. */
    private void perCluster(ByteBuffer buf, long pos, ClusterOp op) throws IOException {
        while (buf.hasRemaining()) {
            int in = (int) (pos & (clusterSize - 1));
            int n = (int) Math.min(buf.remaining(), clusterSize - in);
            op.apply(pos >> clusterBits, in, buf.duplicate().limit(buf.position() + n).slice());
            buf.position(buf.position() + n);
            pos += n;
        }
    }

    void read(ByteBuffer dst, long pos) throws IOException {
        perCluster(dst, pos, this::readCluster);
    }

    /** Reads {@code part.remaining()} bytes of guest cluster {@code gc} from offset {@code in}. */
    private void readCluster(long gc, int in, ByteBuffer part) throws IOException {
        long[] e = entry(gc);
        if ((e[0] & COMPRESSED) != 0) {
            byte[] c = decompress(e[0]);
            part.put(c, in, part.remaining());
            return;
        }
        int scs = subclusterSize();
        int pos = in;
        while (part.hasRemaining()) {
            int sc = pos / scs;
            int st = state(e, sc);
            int end = (sc + 1) * scs;
            while (end < clusterSize && state(e, end / scs) == st) {
                end += scs;
            }
            int n = Math.min(part.remaining(), end - pos);
            ByteBuffer run = part.duplicate().limit(part.position() + n).slice();
            long guest = (gc << clusterBits) + pos;
            switch (st) {
                case DATA -> readFully(data, run, hostOffset(e[0], gc) + pos);
                case ZEROES -> zero(run);
                default -> readBacking(run, guest);
            }
            part.position(part.position() + n);
            pos += n;
        }
    }

    private long hostOffset(long entry, long gc) {
        if (externalData && (h.autoclear & Qcow2Header.AUTOCLEAR_DATA_FILE_RAW) != 0) {
            return gc << clusterBits;
        }
        return entry & OFFSET_MASK;
    }

    private static void zero(ByteBuffer b) {
        while (b.hasRemaining()) {
            b.put((byte) 0);
        }
    }

    private void readBacking(ByteBuffer run, long guest) throws IOException {
        if (backing == null || guest >= backing.size()) {
            zero(run);
            return;
        }
        int fromBacking = (int) Math.min(run.remaining(), backing.size() - guest);
        ByteBuffer b = run.duplicate().limit(run.position() + fromBacking).slice();
        try {
            backing.read(b, guest).get();
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            throw new IOException(where + ": interrupted reading the backing file", ex);
        } catch (ExecutionException ex) {
            throw new IOException(where + ": backing file " + backing.describe() + ": " + ex.getCause().getMessage(), ex.getCause());
        }
        run.position(run.position() + fromBacking);
        zero(run);
    }

    private byte[] decompress(long entry) throws IOException {
        if (entry == compressedCacheEntry) {
            return compressedCache;
        }
        int shift = 62 - (clusterBits - 8);
        long offset = entry & ((1L << shift) - 1);
        long sectors = ((entry >>> shift) & ((1L << (clusterBits - 8)) - 1)) + 1;
        int csize = (int) (sectors * 512 - (offset & 511));
        ByteBuffer b = ByteBuffer.allocate(csize);
        readFully(file, b, offset);
        byte[] in = b.array();
        try {
            if (h.compressionType == Qcow2Header.COMPRESSION_ZLIB) {
                Inflater inf = new Inflater(true);
                try {
                    inf.setInput(in);
                    int n = 0;
                    while (n < clusterSize) {
                        int k = inf.inflate(compressedCache, n, clusterSize - n);
                        if (k == 0 && (inf.finished() || inf.needsInput() || inf.needsDictionary())) {
                            break;
                        }
                        n += k;
                    }
                    if (n != clusterSize) {
                        throw new IOException(where + ": a zlib-compressed cluster at " + offset + " inflates to " + n + " bytes, not " + clusterSize);
                    }
                } finally {
                    inf.end();
                }
            } else {
                try (InputStream z = new com.github.luben.zstd.ZstdInputStreamNoFinalizer(new ByteArrayInputStream(in))) {
                    int n = z.readNBytes(compressedCache, 0, clusterSize);
                    if (n != clusterSize) {
                        throw new IOException(where + ": a zstd-compressed cluster at " + offset + " decompresses to " + n + " bytes");
                    }
                }
            }
        } catch (DataFormatException ex) {
            compressedCacheEntry = -1;
            throw new IOException(where + ": bad compressed cluster at " + offset + ": " + ex.getMessage(), ex);
        } catch (IOException ex) {
            compressedCacheEntry = -1;
            throw ex;
        }
        compressedCacheEntry = entry;
        return compressedCache;
    }

    // ------------------------------------------------------------------ write

    void write(ByteBuffer src, long pos) throws IOException {
        perCluster(src, pos, this::writeCluster);
    }

    private boolean allData(long[] e) {
        if ((e[0] & COMPRESSED) != 0) {
            return false;
        }
        if (extL2) {
            return (e[1] & 0xffffffffL) == 0xffffffffL && (e[0] & OFFSET_MASK) != 0;
        }
        return state(e, 0) == DATA && (e[0] & COPIED) != 0;
    }

    private void writeCluster(long gc, int in, ByteBuffer part) throws IOException {
        long[] e = entry(gc);
        if (allData(e)) {
            writeFully(data, part, hostOffset(e[0], gc) + in);
            return;
        }
        if ((e[0] & OFFSET_MASK) != 0 && (e[0] & COMPRESSED) == 0 && (e[0] & COPIED) == 0 && !externalData
                && refcount((e[0] & OFFSET_MASK) >> clusterBits) > 1) {
            throw new IOException(where + ": cluster " + gc + " is shared (internal snapshots are not supported for writing)");
        }
        // copy-on-write: the cluster's current contents (backing, zeroes, compressed) with the new data over them
        ByteBuffer whole = ByteBuffer.allocate(clusterSize);
        if (in != 0 || part.remaining() != clusterSize) {
            readCluster(gc, 0, whole.duplicate());
        }
        whole.position(in);
        whole.put(part);
        whole.clear();
        long old = e[0];
        long host = (old & OFFSET_MASK) != 0 && (old & COMPRESSED) == 0 ? old & OFFSET_MASK : 0;
        boolean fresh = host == 0;
        if (fresh) {
            host = externalData ? gc << clusterBits : allocate();
        }
        writeFully(data, whole, host);
        if (fresh && !externalData) {
            setRefcount(host >> clusterBits, 1);
        }
        setEntry(gc, host | COPIED, extL2 ? 0xffffffffL : 0);
        if ((old & COMPRESSED) != 0) {
            freeCompressed(old);
        }
    }

    /** Reserves a new cluster past the end of the file; returns its byte offset. */
    private long allocate() {
        return endCluster++ << clusterBits;
    }

    /** Points guest cluster {@code gc} at {@code entry} (and {@code bitmap}), allocating its L2 table if needed. */
    private void setEntry(long gc, long entry, long bitmap) throws IOException {
        int l1i = (int) (gc / l2Entries);
        int l2i = (int) (gc % l2Entries);
        long l2off = l1[l1i] & OFFSET_MASK;
        if (l2off == 0) {
            l2off = allocate();
            long[] t = new long[clusterSize / 8];
            writeFully(file, ByteBuffer.allocate(clusterSize), l2off);
            setRefcount(l2off >> clusterBits, 1);
            l2Cache.put(l2off, t);
            l1[l1i] = l2off | COPIED;
            ByteBuffer b = ByteBuffer.allocate(8).putLong(0, l1[l1i]);
            writeFully(file, b, h.l1Offset + 8L * l1i);
        }
        long[] t = l2Table(l2off);
        ByteBuffer b = ByteBuffer.allocate(entryBytes);
        if (extL2) {
            t[2 * l2i] = entry;
            t[2 * l2i + 1] = bitmap;
            b.putLong(0, entry).putLong(8, bitmap);
        } else {
            t[l2i] = entry;
            b.putLong(0, entry);
        }
        writeFully(file, b, l2off + (long) l2i * entryBytes);
    }

    private void freeCompressed(long entry) throws IOException {
        int shift = 62 - (clusterBits - 8);
        long offset = entry & ((1L << shift) - 1);
        long sectors = ((entry >>> shift) & ((1L << (clusterBits - 8)) - 1)) + 1;
        long start = offset & ~511L;
        long end = start + sectors * 512;
        for (long c = start >> clusterBits; c <= (end - 1) >> clusterBits; c++) {
            setRefcount(c, refcount(c) - 1);
        }
        if (entry == compressedCacheEntry) {
            compressedCacheEntry = -1;
        }
    }

    private void freeData(long entry) throws IOException {
        long host = entry & OFFSET_MASK;
        if ((entry & COMPRESSED) != 0) {
            freeCompressed(entry);
        } else if (host != 0 && !externalData) {
            setRefcount(host >> clusterBits, refcount(host >> clusterBits) - 1);
        }
    }

    // ------------------------------------------------------------------ zeroes and discard

    /** Zeroes {@code [pos, pos+len)}: whole clusters by metadata where the format allows, the rest by writing zeroes. */
    void writeZeroes(long pos, long len, boolean mayUnmap) throws IOException {
        long end = pos + len;
        while (pos < end) {
            long gc = pos >> clusterBits;
            int in = (int) (pos & (clusterSize - 1));
            int n = (int) Math.min(end - pos, clusterSize - in);
            if (in == 0 && n == clusterSize && zeroCluster(gc, mayUnmap)) {
                pos += n;
                continue;
            }
            write(ByteBuffer.allocate(n), pos);
            pos += n;
        }
    }

    /** Makes a whole cluster read as zeroes by metadata; false when only writing zeroes would do. */
    private boolean zeroCluster(long gc, boolean mayUnmap) throws IOException {
        if (externalData && (h.autoclear & Qcow2Header.AUTOCLEAR_DATA_FILE_RAW) != 0) {
            return false;   // a raw data file must hold the zeroes itself (it is a valid raw image on its own)
        }
        long[] e = entry(gc);
        long old = e[0];
        boolean allocatedData = (old & OFFSET_MASK) != 0 && (old & COMPRESSED) == 0;
        if (extL2) {
            if (mayUnmap || !allocatedData) {
                if (!mayUnmap) {
                    return false;   // NO_HOLE on an unallocated cluster: write real zeroes
                }
                setEntry(gc, 0, 0xffffffffL << 32);
                freeData(old);
            } else {
                setEntry(gc, old, 0xffffffffL << 32);
            }
            return true;
        }
        if (h.version >= 3) {
            if (mayUnmap) {
                setEntry(gc, ZERO, 0);
                freeData(old);
                return true;
            }
            if (allocatedData) {
                setEntry(gc, (old & OFFSET_MASK) | COPIED | ZERO, 0);
                return true;
            }
            return false;
        }
        if (backing == null && mayUnmap && (old != 0)) {
            setEntry(gc, 0, 0);
            freeData(old);
            return true;
        }
        return backing == null && mayUnmap && old == 0;
    }

    void discard(long pos, long len) throws IOException {
        long end = pos + len;
        long first = (pos + clusterSize - 1) >> clusterBits;
        long last = end >> clusterBits;   // exclusive
        for (long gc = first; gc < last; gc++) {
            if (h.version >= 3 || backing == null) {
                zeroCluster(gc, true);
            }
        }
    }

    // ------------------------------------------------------------------ block status

    List<BlockExtent> blockStatus(long pos, long len) throws IOException {
        List<BlockExtent> out = new ArrayList<>();
        long end = Math.min(h.size, pos + len);
        int scs = subclusterSize();
        int lastKind = -1;
        long runStart = pos;
        while (pos < end && out.size() < 1024) {
            long gc = pos >> clusterBits;
            long[] e = entry(gc);
            int in = (int) (pos & (clusterSize - 1));
            int kind;
            if ((e[0] & COMPRESSED) != 0) {
                kind = DATA;
            } else {
                kind = state(e, in / scs);
                if (kind == UNALLOCATED && backing != null && (gc << clusterBits) < backing.size()) {
                    kind = DATA;   // reads come from the backing file
                }
            }
            long next = Math.min(end, (gc << clusterBits) + ((long) (in / scs) + 1) * scs);
            if (kind != lastKind && lastKind >= 0) {
                out.add(extent(lastKind, pos - runStart));
                runStart = pos;
            }
            lastKind = kind;
            pos = next;
        }
        if (pos > runStart) {
            out.add(extent(lastKind, pos - runStart));
        }
        return out;
    }

    private static BlockExtent extent(int kind, long length) {
        return switch (kind) {
            case DATA -> BlockExtent.data(length);
            case ZEROES -> new BlockExtent(length, false, true);
            default -> new BlockExtent(length, true, true);
        };
    }

    // ------------------------------------------------------------------ refcounts

    private byte[] refblock(long offset) throws IOException {
        byte[] b = refblocks.get(offset);
        if (b == null) {
            ByteBuffer buf = ByteBuffer.allocate(clusterSize);
            readFully(file, buf, offset);
            b = buf.array();
            refblocks.put(offset, b);
        }
        return b;
    }

    long refcount(long cluster) throws IOException {
        long blk = cluster / refblockEntries;
        if (blk >= refTable.length) {
            return 0;
        }
        long off = refTable[(int) blk] & OFFSET_MASK;
        if (off == 0) {
            return 0;
        }
        return get(refblock(off), cluster % refblockEntries);
    }

    private long get(byte[] b, long i) {
        if (refcountBits >= 8) {
            int bytes = refcountBits / 8;
            int at = (int) (i * bytes);
            long v = 0;
            for (int k = 0; k < bytes; k++) {
                v = (v << 8) | (b[at + k] & 0xff);
            }
            return v;
        }
        int per = 8 / refcountBits;
        int shift = (int) (i % per) * refcountBits;
        return (b[(int) (i / per)] >> shift) & ((1 << refcountBits) - 1);
    }

    /** Writes entry i of block b (cached) and returns the byte range touched: {start, length}. */
    private int[] put(byte[] b, long i, long v) {
        if (refcountBits >= 8) {
            int bytes = refcountBits / 8;
            int at = (int) (i * bytes);
            for (int k = bytes - 1; k >= 0; k--) {
                b[at + k] = (byte) v;
                v >>>= 8;
            }
            return new int[] {at, bytes};
        }
        int per = 8 / refcountBits;
        int shift = (int) (i % per) * refcountBits;
        int at = (int) (i / per);
        int mask = ((1 << refcountBits) - 1) << shift;
        b[at] = (byte) ((b[at] & ~mask) | ((v << shift) & mask));
        return new int[] {at, 1};
    }

    void setRefcount(long cluster, long value) throws IOException {
        if (value < 0 || (refcountBits < 64 && value >= (1L << refcountBits))) {
            throw new IOException(where + ": refcount of cluster " + cluster + " would be " + value + " (corrupt image?)");
        }
        long blk = cluster / refblockEntries;
        if (blk >= refTable.length) {
            growRefTable(blk);
        }
        long off = refTable[(int) blk] & OFFSET_MASK;
        if (off == 0) {
            long r = allocate();
            long rc = r >> clusterBits;
            byte[] b = new byte[clusterSize];
            boolean self = rc / refblockEntries == blk;
            if (self) {
                put(b, rc % refblockEntries, 1);
            }
            writeFully(file, ByteBuffer.wrap(b), r);
            refblocks.put(r, b);
            if (!self) {
                setRefcount(rc, 1);
            }
            if (blk >= refTable.length) {
                growRefTable(blk);
            }
            refTable[(int) blk] = r;
            writeFully(file, ByteBuffer.allocate(8).putLong(0, r), refTableOffset + 8 * blk);
            off = r;
        }
        byte[] b = refblock(off);
        int[] range = put(b, cluster % refblockEntries, value);
        writeFully(file, ByteBuffer.wrap(b, range[0], range[1]), off + range[0]);
    }

    /** A bigger refcount table past the end of the file, with its refcounts; switched to by one header write. */
    private void growRefTable(long neededBlock) throws IOException {
        int perCluster = clusterSize / 8;
        long entries = Math.max(neededBlock + 1, refTable.length * 2L);
        while (true) {
            long tableClusters = (entries + perCluster - 1) / perCluster;
            if (tableClusters * clusterSize > Qcow2Header.MAX_REFTABLE_BYTES) {
                throw new IOException(where + ": the refcount table would exceed " + Qcow2Header.MAX_REFTABLE_BYTES + " bytes");
            }
            long[] t = Arrays.copyOf(refTable, (int) (tableClusters * perCluster));
            long start = endCluster;
            long next = start + tableClusters;
            Map<Long, byte[]> fresh = new HashMap<>();
            List<Long> need = new ArrayList<>();
            for (long c = start; c < start + tableClusters; c++) {
                need.add(c);
            }
            boolean fits = true;
            for (int i = 0; i < need.size(); i++) {
                long c = need.get(i);
                long blk = c / refblockEntries;
                if (blk >= t.length) {
                    fits = false;
                    break;
                }
                if ((t[(int) blk] & OFFSET_MASK) == 0) {
                    long r = next++;
                    t[(int) blk] = r << clusterBits;
                    fresh.put(r << clusterBits, new byte[clusterSize]);
                    need.add(r);
                }
                long off = t[(int) blk] & OFFSET_MASK;
                byte[] b = fresh.containsKey(off) ? fresh.get(off) : refblock(off);
                long i2 = c % refblockEntries;
                int[] range = put(b, i2, get(b, i2) + 1);
                if (!fresh.containsKey(off)) {
                    writeFully(file, ByteBuffer.wrap(b, range[0], range[1]), off + range[0]);
                }
            }
            if (!fits) {
                entries *= 2;
                continue;
            }
            endCluster = next;
            for (Map.Entry<Long, byte[]> f : fresh.entrySet()) {
                writeFully(file, ByteBuffer.wrap(f.getValue()), f.getKey());
                refblocks.put(f.getKey(), f.getValue());
            }
            ByteBuffer tb = ByteBuffer.allocate(t.length * 8);
            tb.asLongBuffer().put(t);
            writeFully(file, tb, start << clusterBits);
            file.force(false);
            ByteBuffer hb = ByteBuffer.allocate(12).putLong(0, start << clusterBits).putInt(8, (int) tableClusters);
            writeFully(file, hb, 48);
            file.force(false);
            long oldOffset = refTableOffset;
            int oldClusters = (int) ((long) refTable.length * 8 / clusterSize);
            refTable = t;
            refTableOffset = start << clusterBits;
            h.refTableOffset = refTableOffset;
            h.refTableClusters = (int) tableClusters;
            for (long c = oldOffset >> clusterBits; c < (oldOffset >> clusterBits) + oldClusters; c++) {
                setRefcount(c, refcount(c) - 1);
            }
            return;
        }
    }

    // ------------------------------------------------------------------ lifecycle

    void flush() throws IOException {
        file.force(false);
        if (externalData) {
            data.force(false);
        }
    }

    /** Clears the autoclear bits we do not maintain (bitmaps) when opened for writing, as the format asks. */
    void clearForeignAutoclear() throws IOException {
        if (!writable || h.version < 3) {
            return;
        }
        long keep = h.autoclear & Qcow2Header.AUTOCLEAR_DATA_FILE_RAW;
        if (keep != h.autoclear) {
            h.autoclear = keep;
            writeFully(file, ByteBuffer.allocate(8).putLong(0, keep), 88);
            file.force(false);
        }
    }

    void close() throws IOException {
        try {
            if (writable) {
                flush();
            }
        } finally {
            file.close();
            if (externalData) {
                data.close();
            }
        }
    }
}
