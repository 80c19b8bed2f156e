package io.jvmm.devices.blk.qcow2;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.BlockOpener;
import io.jvmm.devices.blk.Peers;
import io.jvmm.devices.blk.nbd.NbdClientSettings;
import io.jvmm.platform.options.UserError;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The qcow2 back-end with qemu-img as the oracle: images qemu-img made (plain, with a backing
 * file, compressed with zlib and zstd, extended L2) read as qemu-img converts them; after our
 * random writes (into compressed clusters and backing-file clusters too) {@code qemu-img check}
 * is clean and {@code qemu-img compare} equals a raw image given the same writes; features we do
 * not support are refused by bit; the image is locked against QEMU and QEMU's lock is honoured.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class Qcow2BackendTest {
    static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    @BeforeEach
    void peers() {
        Peers.require("qemu-img", "qemu-utils");
        Peers.require("qemu-io", "qemu-utils");
    }

    static BlockBackend open(Path image, boolean readOnly) {
        return BlockOpener.open(new BlockOpener.Spec("test", image.toString(), "qcow2", readOnly, NbdClientSettings.DEFAULT));
    }

    static byte[] readAll(BlockBackend b) throws Exception {
        byte[] all = new byte[(int) b.size()];
        int chunk = 1 << 20;
        List<CompletableFuture<Void>> fs = new ArrayList<>();
        for (int off = 0; off < all.length; off += chunk) {
            fs.add(b.read(ByteBuffer.wrap(all, off, Math.min(chunk, all.length - off)), off));
        }
        CompletableFuture.allOf(fs.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
        return all;
    }

    private byte[] oracle(Path image) throws Exception {
        Path raw = dir.resolve(image.getFileName() + ".oracle.raw");
        Peers.ok("qemu-img", "convert", "-O", "raw", image.toString(), raw.toString());
        byte[] b = Files.readAllBytes(raw);
        Files.delete(raw);
        return b;
    }

    private void io(Path image, String... cmds) {
        List<String> c = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
        for (String s : cmds) {
            c.add("-c");
            c.add(s);
        }
        c.add(image.toString());
        Peers.ok(c.toArray(new String[0]));
    }

    private Path base() {
        Path base = dir.resolve("base.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "32M");
        io(base, "write -P 0x5a 0 1M", "write -P 0x33 10M 200k", "write -z 20M 1M", "write -P 0x71 31M 1M");
        return base;
    }

    @Test
    void imagesQemuImgMadeReadAsQemuImgConvertsThem() throws Exception {
        Path base = base();
        Path zlib = dir.resolve("zlib.qcow2");
        Peers.ok("qemu-img", "convert", "-c", "-O", "qcow2", base.toString(), zlib.toString());
        Path zstd = dir.resolve("zstd.qcow2");
        Peers.ok("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", base.toString(), zstd.toString());
        Path top = dir.resolve("top.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top.toString());
        io(top, "write -P 0x99 512k 1M", "write -z 10M 64k");
        Path raw = dir.resolve("rawbase.img");
        Peers.ok("qemu-img", "convert", "-O", "raw", base.toString(), raw.toString());
        Path overRaw = dir.resolve("over-raw.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-b", raw.toAbsolutePath().toString(), "-F", "raw", overRaw.toString());
        io(overRaw, "write -P 0x42 3M 5k");
        Path ext = dir.resolve("extl2.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=64k", "-b", "base.qcow2", "-F", "qcow2", ext.toString());
        io(ext, "write -P 0x17 4k 4k", "write -z 10M 2k", "write -P 0x18 12M 70k");
        Path small = dir.resolve("small-clusters.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512,refcount_bits=1", small.toString(), "4M");
        io(small, "write -P 0x11 1000 3000", "write -P 0x12 2M 1M");
        for (Path p : List.of(base, zlib, zstd, top, overRaw, ext, small)) {
            try (BlockBackend b = open(p, true)) {
                assertArrayEquals(oracle(p), readAll(b), p.getFileName() + " reads as qemu-img converts it");
            }
        }
    }

    @Test
    void tenThousandRandomWritesLeaveACleanImageEqualToRaw() throws Exception {
        Path base = base();
        Path image = dir.resolve("written.qcow2");
        // compressed clusters and a backing file: writes copy compressed clusters out, and backing data up
        Peers.ok("qemu-img", "convert", "-c", "-O", "qcow2", base.toString(), image.toString());
        Path top = dir.resolve("top.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "-b", "written.qcow2", "-F", "qcow2", top.toString());
        Path raw = dir.resolve("same.raw");
        Peers.ok("qemu-img", "convert", "-O", "raw", top.toString(), raw.toString());
        // 512-byte clusters with 64-bit refcounts: a refcount block covers 32 KiB, so the refcount table grows
        Path tiny = dir.resolve("tiny.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=512,refcount_bits=64", tiny.toString(), "8M");
        Random r = new Random(42);
        for (Path target : List.of(image, top, tiny)) {
            Peers.ok("qemu-img", "convert", "-O", "raw", target.toString(), raw.toString());
            try (BlockBackend b = open(target, false); FileChannel ref = FileChannel.open(raw, StandardOpenOption.WRITE)) {
                long size = b.size();
                List<CompletableFuture<Void>> batch = new ArrayList<>();
                for (int i = 0; i < 10_000; i++) {
                    int len = 1 + r.nextInt(r.nextInt(8) == 0 ? (int) Math.min(200_000, size / 4) : 9000);
                    long pos = (long) (r.nextDouble() * (size - len));
                    int kind = r.nextInt(20);
                    if (kind == 0) {
                        batch.add(b.writeZeroes(pos, len, r.nextBoolean()));
                        ref.write(ByteBuffer.allocate(len), pos);
                    } else {
                        byte[] data = new byte[len];
                        r.nextBytes(data);
                        batch.add(b.write(ByteBuffer.wrap(data), pos));
                        ref.write(ByteBuffer.wrap(data), pos);
                    }
                    if (batch.size() == 16) {
                        CompletableFuture.allOf(batch.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
                        batch.clear();
                    }
                }
                CompletableFuture.allOf(batch.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
                b.flush().get(60, TimeUnit.SECONDS);
            }
            String check = Peers.ok("qemu-img", "check", target.toString());
            assertTrue(check.contains("No errors were found"), check);
            assertFalse(check.contains("leaked"), check);
            Peers.ok("qemu-img", "compare", "-F", "raw", "-f", "qcow2", target.toString(), raw.toString());
        }
    }

    /** Writes {@code n} random writes (and some zeroes) to the image and the same to a raw copy; returns nothing. */
    private static void sameWrites(BlockBackend b, Path raw, int n, long seed) throws Exception {
        Random r = new Random(seed);
        try (FileChannel ref = FileChannel.open(raw, StandardOpenOption.WRITE)) {
            for (int i = 0; i < n; i++) {
                int len = 1 + r.nextInt(r.nextInt(4) == 0 ? 150_000 : 6000);
                long pos = (long) (r.nextDouble() * (b.size() - len));
                if (r.nextInt(10) == 0) {
                    b.writeZeroes(pos, len, r.nextBoolean()).get(60, TimeUnit.SECONDS);
                    ref.write(ByteBuffer.allocate(len), pos);
                } else {
                    byte[] data = new byte[len];
                    r.nextBytes(data);
                    b.write(ByteBuffer.wrap(data), pos).get(60, TimeUnit.SECONDS);
                    ref.write(ByteBuffer.wrap(data), pos);
                }
            }
            b.flush().get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void supportedFeaturesAreWrittenCleanly() throws Exception {
        Path base = base();
        List<String[]> kinds = List.of(
                new String[] {"lazy.qcow2", "lazy_refcounts=on"},
                new String[] {"extl2.qcow2", "extended_l2=on,cluster_size=64k"},
                new String[] {"datafile.qcow2", "data_file=" + dir.resolve("datafile.raw") + ",data_file_raw=on"},
                new String[] {"datafile2.qcow2", "data_file=" + dir.resolve("datafile2.raw")});
        for (String[] k : kinds) {
            Path image = dir.resolve(k[0]);
            Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-o", k[1], image.toString(), "32M");
            if (k[0].startsWith("extl2")) {   // with a backing file: subclusters mix backing, zero and data
                Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-o", k[1], "-b", "base.qcow2", "-F", "qcow2", image.toString());
            }
            io(image, "write -P 0x21 100k 20k", "write -z 1M 4k");
            Path raw = dir.resolve(k[0] + ".same.raw");
            Peers.ok("qemu-img", "convert", "-O", "raw", image.toString(), raw.toString());
            try (BlockBackend b = open(image, false)) {
                sameWrites(b, raw, 400, k[0].hashCode());
            }
            String check = Peers.ok("qemu-img", "check", image.toString());
            assertTrue(check.contains("No errors were found") && !check.contains("leaked"), k[0] + ": " + check);
            Peers.ok("qemu-img", "compare", "-F", "raw", "-f", "qcow2", image.toString(), raw.toString());
        }
    }

    @Test
    void unsupportedFeaturesAreRefusedByBit() throws Exception {
        Path p = dir.resolve("feature.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", p.toString(), "1M");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.seek(72);
            f.writeLong(1L << 5);
        }
        UserError e = assertThrows(UserError.class, () -> open(p, true));
        assertTrue(e.getMessage().contains("incompatible feature bit 5"), e.getMessage());

        Path json = dir.resolve("json.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "json:{\"driver\":\"raw\"}", "-F", "raw", json.toString(), "1M");
        UserError j = assertThrows(UserError.class, () -> open(json, true));
        assertTrue(j.getMessage().contains("json:"), j.getMessage());

        Path missing = dir.resolve("missing.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "nowhere.img", "-F", "raw", missing.toString(), "1M");
        UserError m = assertThrows(UserError.class, () -> open(missing, true));
        assertTrue(m.getMessage().contains("nowhere.img") && m.getMessage().contains("does not exist"), m.getMessage());
    }

    private static String readQuietly(Path p) {
        try {
            return Files.readString(p);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    @Test
    void lockedAgainstQemuBothWays() throws Exception {
        Path p = dir.resolve("locked.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", p.toString(), "1M");
        try (BlockBackend b = open(p, false)) {
            Peers.Result info = Peers.run(Peers.seconds(60), "qemu-img", "info", p.toString());
            assertNotEquals(0, info.status(), info.output());
            assertTrue(info.output().contains("lock"), info.output());
            Peers.Result write = Peers.run(Peers.seconds(60), "qemu-io", "-c", "write 0 512", p.toString());
            assertNotEquals(0, write.status(), write.output());
        }
        // released at close: QEMU opens it again
        Peers.ok("qemu-img", "info", p.toString());
        // and QEMU's lock keeps us out while qemu-io holds the image open for writing
        Process q = Peers.start(dir.resolve("qemu-io.log"), "qemu-io", "-f", "qcow2", p.toString());
        try {
            // qemu-io prompts once it has opened (and locked) the image; polling with qemu-img would race with its open
            io.jvmm.chardev.Await.until(() -> readQuietly(dir.resolve("qemu-io.log")).contains("qemu-io>"),
                    io.jvmm.chardev.Await.HANG_GUARD, () -> "qemu-io opened the image: " + readQuietly(dir.resolve("qemu-io.log")));
            UserError e = assertThrows(UserError.class, () -> open(p, false));
            assertTrue(e.getMessage().contains("lock"), e.getMessage());
        } finally {
            Peers.stop(q);
        }
    }
}
