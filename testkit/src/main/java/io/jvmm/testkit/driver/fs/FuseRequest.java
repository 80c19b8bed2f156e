package io.jvmm.testkit.driver.fs;

import java.util.ArrayList;
import java.util.List;

/**
 * One FUSE request before it gets its unique: opcode, the node it is about, its argument parts
 * (each becomes its own descriptor, after the in-header) and what reply it expects.
 *
 * @param args         argument parts in order (structs, NUL-terminated names, write data)
 * @param replyBytes   the largest reply body accepted (exact for fixed structs, a maximum for READ
 *                     and READDIR, 0 for a header-only reply)
 * @param expectsReply false only for FORGET, which the server answers with nothing at all
 * @param description  what the request does, for error messages ("LOOKUP \"a\" in node 1")
 */
public record FuseRequest(int opcode, long nodeId, List<byte[]> args, int replyBytes, boolean expectsReply, String description) {
    public FuseRequest {
        args = List.copyOf(args);
        if (replyBytes < 0) {
            throw new IllegalArgumentException(description + ": reply size " + replyBytes + " is negative");
        }
        if (!expectsReply && replyBytes != 0) {
            throw new IllegalArgumentException(description + ": a request without reply cannot expect " + replyBytes + " reply bytes");
        }
    }

    /** Bytes of the whole request: in-header and arguments (fuse_in_header.len). */
    public int length() {
        long sum = FuseInHeader.BYTES;
        for (byte[] a : args) {
            sum += a.length;
        }
        if (sum > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(description + ": " + sum + " bytes do not fit fuse_in_header.len");
        }
        return (int) sum;
    }

    /** The in-header this request carries with {@code unique} and the caller's credentials. */
    public FuseInHeader header(long unique, FuseCredentials who) {
        return new FuseInHeader(length(), opcode, unique, nodeId, who.uid(), who.gid(), who.pid());
    }

    /**
     * The request as virtio-fs carries it: readable in-header and arguments; writable out-header
     * and reply body (nothing writable when no reply is expected).
     */
    public FsRequest toTransport(long unique, FuseCredentials who) {
        List<byte[]> readable = new ArrayList<>(args.size() + 1);
        readable.add(header(unique, who).encode());
        for (byte[] a : args) {
            if (a.length > 0) {
                readable.add(a);
            }
        }
        List<Integer> writable = !expectsReply ? List.of()
                : replyBytes > 0 ? List.of(FuseOutHeader.BYTES, replyBytes) : List.of(FuseOutHeader.BYTES);
        return new FsRequest(readable, writable);
    }

    @Override
    public String toString() {
        return description;
    }
}
