package io.jvmm.tests.vfiouser;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A minimal newc cpio archive (the initramfs format): one executable file plus the trailer. Linux
 * unpacks concatenated archives in order, so appending one to an initramfs adds the file.
 */
final class Cpio {
    private Cpio() {
    }

    static byte[] withExecutable(String name, byte[] content) {
        return withExecutables(java.util.Map.of(name, content));
    }

    /** Several executables (name, e.g. "bin/tool", to content) in one archive. */
    static byte[] withExecutables(java.util.Map<String, byte[]> files) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int inode = 1;
        for (java.util.Map.Entry<String, byte[]> f : new java.util.TreeMap<>(files).entrySet()) {
            entry(out, f.getKey(), 0100755, f.getValue(), inode++);
        }
        entry(out, "TRAILER!!!", 0, new byte[0], inode);
        return out.toByteArray();
    }

    private static void entry(ByteArrayOutputStream out, String name, int mode, byte[] data, int inode) {
        byte[] n = (name + "\0").getBytes(StandardCharsets.US_ASCII);
        String header = String.format("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
                inode, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, n.length, 0);
        out.writeBytes(header.getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(n);
        pad(out, 110 + n.length);
        out.writeBytes(data);
        pad(out, data.length);
    }

    private static void pad(ByteArrayOutputStream out, int length) {
        for (int i = length; i % 4 != 0; i++) {
            out.write(0);
        }
    }
}
