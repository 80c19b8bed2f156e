package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * What {@code query-block} shows of a qcow2 image, read from its header (qcow2's specification,
 * docs/interop/qcow2.txt): virtual size, cluster size and QEMU's ImageInfoSpecificQCow2.
 */
record Qcow2Summary(int version, long virtualSize, int clusterSize, long incompatible, long compatible, int refcountBits,
                    int compressionType) {
    private static final int MAGIC = 0x514649fb;

    /** The header of {@code file}, if it is a readable qcow2 image. */
    static Optional<Qcow2Summary> read(Path file) {
        ByteBuffer h = ByteBuffer.allocate(112);
        try (FileChannel f = FileChannel.open(file, StandardOpenOption.READ)) {
            while (h.hasRemaining() && f.read(h) > 0) {
                // the header is at most 112 bytes here
            }
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
        if (h.position() < 72 || h.getInt(0) != MAGIC) {
            return Optional.empty();
        }
        int version = h.getInt(4);
        int clusterBits = h.getInt(20);
        long size = h.getLong(24);
        if (version < 3 || h.position() < 104) {
            return Optional.of(new Qcow2Summary(version, size, 1 << clusterBits, 0, 0, 16, 0));
        }
        int headerLength = h.getInt(100);
        int compression = headerLength > 104 && h.position() > 104 ? h.get(104) & 0xff : 0;
        return Optional.of(new Qcow2Summary(version, size, 1 << clusterBits, h.getLong(72), h.getLong(80), 1 << h.getInt(96), compression));
    }

    /** QEMU's {@code format-specific}: {@code {"type": "qcow2", "data": {...}}}. */
    void formatSpecific(ObjectNode into) {
        into.put("type", "qcow2");
        ObjectNode data = into.putObject("data");
        data.put("compat", version >= 3 ? "1.1" : "0.10");
        data.put("compression-type", compressionType == 1 ? "zstd" : "zlib");
        if (version >= 3) {
            data.put("lazy-refcounts", (compatible & 1) != 0);
        }
        data.put("refcount-bits", refcountBits);
        if (version >= 3) {
            data.put("corrupt", (incompatible & 2) != 0);
            data.put("extended-l2", (incompatible & 16) != 0);
        }
    }
}
