package io.jvmm.devices.blk.qcow2;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.ChildJvm;
import io.jvmm.devices.blk.Peers;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * kill -9 in the middle of writes leaves at most leaked clusters, never corruption, by
 * {@code qemu-img check}: a child process writes a qcow2 image (4 KiB clusters with 1-bit
 * refcounts, so the refcount table grows while it writes; compressed clusters to copy out;
 * a backing file) and is killed at three points.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class Qcow2KillTest {
    @TempDir
    Path dir;

    private static int writesDone(String output) {
        Matcher m = Pattern.compile("writes (\\d+)").matcher(output);
        int n = 0;
        while (m.find()) {
            n = Integer.parseInt(m.group(1));
        }
        return n;
    }

    @Test
    void killedWhileWritingLeavesAtMostLeaks() throws Exception {
        Peers.require("qemu-img", "qemu-utils");
        Path base = dir.resolve("base.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "64M");
        Peers.ok("qemu-io", "-f", "qcow2", "-c", "write -P 0x44 0 16M", base.toString());
        Path compressed = dir.resolve("compressed.qcow2");
        Peers.ok("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=4k,refcount_bits=1", base.toString(), compressed.toString());
        Path image = dir.resolve("victim.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k,refcount_bits=1",
                "-b", "compressed.qcow2", "-F", "qcow2", image.toString());
        int[] killAt = {200, 1600, 4000};
        for (int round = 0; round < killAt.length; round++) {
            Path target = round == 1 ? compressed : image;   // once straight into the compressed image
            int at = killAt[round];
            try (ChildJvm child = ChildJvm.start(Qcow2WriterChild.class, target.toString(), String.valueOf(round))) {
                Await.until(() -> writesDone(child.output()) >= at || !child.isAlive(), java.time.Duration.ofSeconds(150),
                        () -> "the child did " + at + " writes: " + child.output());
                assertTrue(child.isAlive(), "the child is still writing: " + child.output());
            }   // closing the child is SIGKILL
            Peers.Result check = Peers.run(Peers.seconds(120), "qemu-img", "check", target.toString());
            assertTrue(check.status() == 0 || check.status() == 3,
                    "qemu-img check after kill -9 at " + at + " writes: status " + check.status() + " (0 clean, 3 leaks only):\n" + check.output());
            assertFalse(check.output().contains("ERROR"), check.output());
        }
    }
}
