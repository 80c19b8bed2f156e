package io.jvmm.devices.blk.qcow2;

import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.BlockOpener;
import io.jvmm.devices.blk.nbd.NbdClientSettings;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A child process that writes a qcow2 image as fast as it can (random writes of every size,
 * zeroes with and without unmap, discards, flushes) and prints how many it has done, until it is
 * killed: the kill -9 test's victim.
 */
public final class Qcow2WriterChild {
    private Qcow2WriterChild() {
    }

    public static void main(String[] args) throws Exception {
        BlockBackend b = BlockOpener.open(new BlockOpener.Spec("kill-test", args[0], "qcow2", false, NbdClientSettings.DEFAULT));
        Random r = new Random(Long.parseLong(args[1]));
        long size = b.size();
        System.out.println("opened");
        System.out.flush();
        for (int i = 1; i <= 1_000_000; i++) {
            List<CompletableFuture<Void>> batch = new ArrayList<>();
            for (int k = 0; k < 8; k++) {
                int len = 1 + r.nextInt(r.nextInt(6) == 0 ? 300_000 : 5000);
                long pos = (long) (r.nextDouble() * (size - len));
                switch (r.nextInt(16)) {
                    case 0 -> batch.add(b.writeZeroes(pos, len, r.nextBoolean()));
                    case 1 -> batch.add(b.discard(pos, len));
                    case 2 -> batch.add(b.flush());
                    default -> {
                        byte[] d = new byte[len];
                        r.nextBytes(d);
                        batch.add(b.write(ByteBuffer.wrap(d), pos));
                    }
                }
            }
            CompletableFuture.allOf(batch.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
            if (i % 50 == 0) {
                System.out.println("writes " + i * 8);
                System.out.flush();
            }
        }
        b.close();
    }
}
