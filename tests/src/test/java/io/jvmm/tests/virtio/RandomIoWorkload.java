package io.jvmm.tests.virtio;

import io.jvmm.testkit.driver.blk.BlkProtocol;
import io.jvmm.testkit.driver.blk.BlkResponse;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;

import static io.jvmm.testkit.driver.blk.BlkProtocol.SECTOR;
import static org.junit.jupiter.api.Assertions.*;

/**
 * Random-offset, random-size reads and writes through the guest's virtio-blk driver with several
 * requests in flight, checked against a shadow copy of the disk. Requests in flight never overlap
 * a write in flight, so the expected contents are always defined. Each request also varies how
 * its chain is built (segment size, indirect or not). Every submitted request must complete
 * exactly once with OK and the right used length; reads must match the shadow.
 */
final class RandomIoWorkload {
    private static final Logger log = LoggerFactory.getLogger(RandomIoWorkload.class);
    private static final int[] SEGMENT_SIZES = {4096, 16 * 1024, 64 * 1024, 1 << 20};

    /** Called at points where a test may interfere (mask vectors, ...). */
    interface Hooks {
        /** Before a request is submitted. */
        default void beforeSubmit() {
        }

        /** Before the driver blocks waiting for a completion interrupt. */
        default void beforeWait() {
        }
    }

    private record Pending(CompletableFuture<BlkResponse> future, long sector, int bytes, boolean write) {
        boolean overlaps(long otherSector, int otherBytes) {
            long start = sector * SECTOR;
            long otherStart = otherSector * SECTOR;
            return start < otherStart + otherBytes && otherStart < start + bytes;
        }
    }

    private final VirtioBlkDriver blk;
    private final byte[] shadow;
    private final Random random;
    private final Hooks hooks;
    private final int maxInFlight;
    private final int maxRequestBytes;
    private final List<Pending> pending = new ArrayList<>();
    private long submitted;
    private long completed;
    private long maxObservedInFlight;

    /**
     * @param initial the disk's current contents (the shadow starts as a copy)
     */
    RandomIoWorkload(VirtioBlkDriver blk, byte[] initial, long seed, int maxInFlight, int maxRequestBytes, Hooks hooks) {
        this.blk = blk;
        this.shadow = initial.clone();
        this.random = new Random(seed);
        this.hooks = hooks;
        this.maxInFlight = maxInFlight;
        this.maxRequestBytes = maxRequestBytes;
        log.info("random I/O workload: seed {}, {} in flight, requests up to {} bytes", seed, maxInFlight, maxRequestBytes);
    }

    /** Runs until {@code totalBytes} were transferred; {@code writeShare} of the requests are writes. */
    void run(long totalBytes, double writeShare) {
        long moved = 0;
        while (moved < totalBytes) {
            boolean write = random.nextDouble() < writeShare;
            int bytes = requestBytes();
            long sector = placeAvoidingConflicts(bytes, write);
            if (sector < 0 || pending.size() >= maxInFlight) {
                waitForOne();
                continue;
            }
            hooks.beforeSubmit();
            varyChainShape(bytes);
            CompletableFuture<BlkResponse> f;
            if (write) {
                byte[] data = new byte[bytes];
                random.nextBytes(data);
                System.arraycopy(data, 0, shadow, (int) (sector * SECTOR), bytes);
                f = blk.submitWrite(sector, data);
            } else {
                f = blk.submitRead(sector, bytes);
            }
            pending.add(new Pending(f, sector, bytes, write));
            submitted++;
            maxObservedInFlight = Math.max(maxObservedInFlight, blk.inFlight());
            moved += bytes;
            reap();
        }
        while (!pending.isEmpty()) {
            waitForOne();
        }
        assertEquals(submitted, completed, "every request completes exactly once");
        assertEquals(0, blk.inFlight());
    }

    private int requestBytes() {
        int maxSectors = maxRequestBytes / SECTOR;
        // Mostly small requests, some large ones: sizes spread over three orders of magnitude.
        int sectors = random.nextInt(4) == 0 ? 1 + random.nextInt(maxSectors) : 1 + random.nextInt(Math.max(1, maxSectors / 16));
        return sectors * SECTOR;
    }

    /** A random sector whose range conflicts with no request in flight, or -1 after a few tries. */
    private long placeAvoidingConflicts(int bytes, boolean write) {
        long sectors = shadow.length / SECTOR - bytes / SECTOR;
        for (int attempt = 0; attempt < 8; attempt++) {
            long sector = (long) (random.nextDouble() * (sectors + 1));
            boolean conflict = false;
            for (Pending p : pending) {
                if ((write || p.write()) && p.overlaps(sector, bytes)) {
                    conflict = true;
                    break;
                }
            }
            if (!conflict) {
                return sector;
            }
        }
        return -1;
    }

    /** Segment size and indirect-ness per request, within what seg_max and the queue allow. */
    private void varyChainShape(int bytes) {
        boolean indirect = random.nextBoolean() && blk.queue().indirectNegotiated();
        int queue = blk.queue().size();
        int segMax = blk.config().segMax();
        List<Integer> fitting = new ArrayList<>();
        for (int s : SEGMENT_SIZES) {
            int segments = (bytes + s - 1) / s;
            // Without indirect tables, every request in flight must fit the ring at once, so that
            // submitting never has to wait for a completion (which a masked vector would delay).
            if (segments <= segMax && (indirect || segments + 2 <= queue / maxInFlight)) {
                fitting.add(s);
            }
        }
        blk.setUseIndirect(indirect);
        blk.setSegmentBytes(fitting.get(random.nextInt(fitting.size())));
    }

    private void waitForOne() {
        if (reap() > 0) {
            return;
        }
        hooks.beforeWait();
        if (reap() > 0) {
            return;
        }
        blk.processCompletions(Duration.ofSeconds(20));
        reap();
    }

    /** Checks and forgets the requests whose futures completed; returns how many. */
    private int reap() {
        int n = 0;
        for (Iterator<Pending> it = pending.iterator(); it.hasNext(); ) {
            Pending p = it.next();
            if (!p.future().isDone()) {
                continue;
            }
            it.remove();
            n++;
            completed++;
            BlkResponse r = p.future().join();
            assertEquals(BlkProtocol.S_OK, r.status(), r::toString);
            if (p.write()) {
                assertEquals(1, r.usedLength(), "a write returns only its status byte");
            } else {
                assertEquals(p.bytes() + 1, r.usedLength(), "a read returns its data and status byte");
                int from = (int) (p.sector() * SECTOR);
                if (!Arrays.equals(r.data(), 0, p.bytes(), shadow, from, from + p.bytes())) {
                    fail(String.format("read of %d bytes at sector %d differs from what was written (first difference at byte %d)",
                            p.bytes(), p.sector(), Arrays.mismatch(r.data(), 0, p.bytes(), shadow, from, from + p.bytes())));
                }
            }
        }
        return n;
    }

    /** The whole image file must equal the shadow. */
    void verifyFile(Path image) throws IOException {
        byte[] file = new byte[shadow.length];
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "r")) {
            f.readFully(file);
        }
        int mismatch = Arrays.mismatch(file, shadow);
        assertEquals(-1, mismatch, () -> "image file differs from what the guest wrote, first at byte " + mismatch);
    }

    byte[] shadow() {
        return shadow;
    }

    long submitted() {
        return submitted;
    }

    long maxObservedInFlight() {
        return maxObservedInFlight;
    }
}
