package io.jvmm.tests.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/** What the Linux-guest file-system tests share: a big random host file, and a create-and-stat script with its host-side check. */
final class GuestFileScripts {
    private GuestFileScripts() {
    }

    /** Writes {@code bytes} of seeded random data to {@code file}; returns its sha256 in hex. */
    static String writeRandomFile(Path file, long bytes, long seed) throws IOException, NoSuchAlgorithmException {
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        SplittableRandom random = new SplittableRandom(seed);
        byte[] block = new byte[1 << 20];
        try (OutputStream out = new DigestOutputStream(Files.newOutputStream(file), sha)) {
            for (long written = 0; written < bytes; written += block.length) {
                for (int i = 0; i < block.length; i++) {
                    block[i] = (byte) random.nextInt();
                }
                out.write(block, 0, (int) Math.min(block.length, bytes - written));
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /**
     * The guest's script (busybox sh, read from the share itself: jvmm.cmd cannot hold it): creates
     * {@code files} files in /mnt/many, then stats each and counts those of the size it wrote; prints
     * {@code JVMM-FS: created N, stat ok M} and fails unless M = N.
     */
    static String createAndStat(int files) {
        return String.join("\n",
                "#!/bin/sh",
                "set -e",
                "mkdir /mnt/many",
                "i=0",
                "while [ \"$i\" -lt " + files + " ]; do",
                "    echo \"jvmm guest file $i\" > \"/mnt/many/f$i\"",
                "    i=$((i + 1))",
                "done",
                "sync",
                "ok=0",
                "i=0",
                "while [ \"$i\" -lt " + files + " ]; do",
                "    line=\"jvmm guest file $i\"",
                "    [ \"$(stat -c %s \"/mnt/many/f$i\")\" -eq $(( ${#line} + 1 )) ] && ok=$((ok + 1))",
                "    i=$((i + 1))",
                "done",
                "echo \"JVMM-FS: created " + files + ", stat ok $ok\"",
                "[ \"$ok\" -eq " + files + " ]",
                "");
    }

    /** The host sees every file the script created, with the content the guest wrote. */
    static void assertHostSeesTheFiles(Path share, int files) throws IOException {
        Path many = share.resolve("many");
        try (Stream<Path> listed = Files.list(many)) {
            assertEquals(files, listed.count(), "files the host sees in many/");
        }
        for (int i = 0; i < files; i++) {
            assertEquals("jvmm guest file " + i + "\n", Files.readString(many.resolve("f" + i)), "many/f" + i + " on the host");
        }
    }
}
