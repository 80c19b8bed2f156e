package io.jvmm.testkit.driver.p9;

import io.jvmm.testkit.driver.DriverTimeoutException;
import io.jvmm.testkit.driver.p9.P9Wire.Reply;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A raw 9P2000.L client over any {@link P9Transport}: many requests in flight, replies matched by
 * tag, and every reply checked against what the protocol allows (flush(5) and rule 4): a reply
 * for a tag not in flight, a second reply, a victim's reply after the Rflush that released it,
 * an Rflush for a Tflush earlier than one already answered for the same victim, or an Rflush
 * naming a Tflush that is still unanswered are recorded as {@link #violations()}. Every reply is
 * also kept in arrival order ({@link #order()}) for tests that assert exact orders.
 *
 * <p>Tags: freed when the reply arrives, or when an Rflush releases the victim; reused oldest
 * first, so a late reply for a freed tag is seen as the violation it is. Not thread-safe: one
 * thread drives a client.
 */
public final class P9Client implements AutoCloseable {
    private final P9Transport transport;
    private final Duration timeout;
    private final ArrayDeque<Integer> freeTags = new ArrayDeque<>();
    private final java.util.BitSet isFree = new java.util.BitSet(0x10000);
    private final Map<Integer, Pending> inFlight = new LinkedHashMap<>();
    private final Map<Integer, Reply> arrived = new HashMap<>();
    private final Map<Integer, List<Integer>> flushesOf = new HashMap<>();   // victim -> flush tags, in order sent
    private final List<Reply> order = new ArrayList<>();
    private final List<String> violations = new ArrayList<>();
    private int msize = 8192;
    private boolean keepOrder = true;

    /** A request in flight: its type, and for a Tflush, the tag it names. */
    private record Pending(int tag, int type, int victim) {
    }

    public P9Client(P9Transport transport, Duration timeout) {
        this.transport = transport;
        this.timeout = timeout;
        for (int t = 0; t < 0xffff; t++) {
            freeTags.add(t);
        }
        isFree.set(0, 0xffff);
    }

    public int msize() {
        return msize;
    }

    /** Every reply in arrival order (turn off for long runs). */
    public List<Reply> order() {
        return order;
    }

    public void keepOrder(boolean keep) {
        keepOrder = keep;
    }

    public List<String> violations() {
        return violations;
    }

    public int inFlight() {
        return inFlight.size();
    }

    /** Tags in flight, oldest first. */
    public List<Integer> inFlightTags() {
        return new ArrayList<>(inFlight.keySet());
    }

    /** Sends {@code message} with a fresh tag; returns the tag. */
    public int send(byte[] message) {
        Integer tag = freeTags.poll();
        if (tag == null) {
            throw new IllegalStateException("all 65535 tags are in flight");
        }
        isFree.clear(tag);
        return sendWithTag(message, tag);
    }

    /** Sends with a tag of the test's choosing (NOTAG for Tversion, or to play a broken client). */
    public int sendWithTag(byte[] message, int tag) {
        ByteBuffer.wrap(message).order(ByteOrder.LITTLE_ENDIAN).putShort(5, (short) tag);
        int type = message[4] & 0xff;
        int victim = type == P9Wire.TFLUSH ? ByteBuffer.wrap(message).order(ByteOrder.LITTLE_ENDIAN).getShort(7) & 0xffff : -1;
        inFlight.put(tag, new Pending(tag, type, victim));
        if (victim >= 0) {
            flushesOf.computeIfAbsent(victim, v -> new ArrayList<>()).add(tag);
        }
        if (isFree.get(tag)) {
            freeTags.remove(tag);
            isFree.clear(tag);
        }
        transport.send(message, msize);
        return tag;
    }

    /** Sends Tflush naming {@code victim}; returns the flush's tag. */
    public int flush(int victim) {
        return send(P9Wire.flush(victim));
    }

    /** Takes one reply (waiting up to the timeout); false when none came. */
    public boolean pump(Duration wait) {
        P9Transport.Received r = transport.receive(wait);
        if (r == null) {
            return false;
        }
        accept(r);
        return true;
    }

    private void accept(P9Transport.Received r) {
        Reply reply = r.bytes().length == 0 ? new Reply(-1, r.tag(), r.bytes()) : Reply.of(r.bytes());
        int tag = reply.tag();
        if (keepOrder) {
            order.add(reply);
        }
        Pending p = inFlight.remove(tag);
        if (p == null) {
            violations.add("reply " + reply + " for a tag not in flight");
            return;
        }
        if (!reply.isEmpty() && p.type != P9Wire.TVERSION && reply.type() != p.type + 1 && !reply.isError()) {
            violations.add("reply " + reply + " to a T" + p.type);
        }
        arrived.put(tag, reply);
        if (p.victim >= 0) {
            flushAnswered(p);
        }
        maybeFree(tag);
    }

    private void flushAnswered(Pending flush) {
        List<Integer> all = flushesOf.get(flush.victim);
        int index = all == null ? -1 : all.indexOf(flush.tag);
        if (index < 0) {
            violations.add("Rflush tag " + flush.tag + " for a flush this client does not know");
            return;
        }
        // Every earlier Tflush for the victim is released by this one; later ones stay.
        for (int i = 0; i < index; i++) {
            Pending earlier = inFlight.remove(all.get(i));
            if (earlier != null) {
                arrived.put(earlier.tag, new Reply(P9Wire.TFLUSH + 1, earlier.tag, new byte[0]));
                maybeFree(earlier.tag);
            }
        }
        List<Integer> later = new ArrayList<>(all.subList(index + 1, all.size()));
        if (later.isEmpty()) {
            flushesOf.remove(flush.victim);
        } else {
            flushesOf.put(flush.victim, later);
        }
        Pending victim = inFlight.get(flush.victim);
        if (victim != null && victim.type != P9Wire.TFLUSH) {
            inFlight.remove(flush.victim);     // flushed: its reply will never come
            arrived.put(victim.tag, new Reply(-1, victim.tag, new byte[0]));
        } else if (victim != null) {
            violations.add("Rflush tag " + flush.tag + " before the Rflush of the Tflush it names (tag " + flush.victim + ")");
        }
        maybeFree(flush.victim);
    }

    /** A tag is reused only once it is answered and no Tflush naming it is still in flight (as Linux does). */
    private void maybeFree(int tag) {
        if (tag != P9Wire.NOTAG && !inFlight.containsKey(tag) && !flushesOf.containsKey(tag) && !isFree.get(tag)) {
            freeTags.add(tag);
            isFree.set(tag);
        }
    }

    /** Waits for the reply to {@code tag} (an empty reply: the request was flushed and never answered). */
    public Reply await(int tag) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!arrived.containsKey(tag)) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || !pump(Duration.ofNanos(left))) {
                if (!arrived.containsKey(tag)) {
                    throw new DriverTimeoutException("no reply to tag " + tag + " within " + timeout.toMillis()
                            + " ms; in flight: " + inFlight.keySet());
                }
            }
        }
        return arrived.remove(tag);
    }

    /** Whether the reply to {@code tag} has arrived (without waiting). */
    public boolean answered(int tag) {
        return arrived.containsKey(tag);
    }

    /** Sends and waits; Rlerror becomes a {@link P9ClientException}. */
    public ByteBuffer rpc(byte[] message) {
        Reply r = await(send(message));
        if (r.isError()) {
            throw new P9ClientException("T" + (message[4] & 0xff), r.errno());
        }
        return r.body();
    }

    /** As {@link #rpc}, returning the errno (0 on success). */
    public int errno(byte[] message) {
        return await(send(message)).errno();
    }

    /** Tversion; returns the msize the server chose. */
    public int version(int wanted) {
        int tag = sendWithTag(P9Wire.version(wanted, "9P2000.L"), P9Wire.NOTAG);
        Reply r = await(tag);
        if (r.isError()) {
            throw new P9ClientException("Tversion", r.errno());
        }
        ByteBuffer b = r.body();
        msize = b.getInt();
        String v = P9Wire.string(b);
        if (!v.equals("9P2000.L")) {
            throw new P9ClientException("Tversion answered " + v, 0);
        }
        return msize;
    }

    public P9Wire.Qid attach(int fid, int uid) {
        return P9Wire.Qid.read(rpc(P9Wire.attach(fid, uid)));
    }

    /** Walks; returns the qids (all of them: a partial walk throws ENOENT). */
    public List<P9Wire.Qid> walk(int fid, int newfid, String... names) {
        ByteBuffer b = rpc(P9Wire.walk(fid, newfid, names));
        int n = b.getShort() & 0xffff;
        List<P9Wire.Qid> qids = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            qids.add(P9Wire.Qid.read(b));
        }
        if (n != names.length) {
            throw new P9ClientException("Twalk stopped after " + n + " of " + names.length + " names", 2);
        }
        return qids;
    }

    public P9Wire.Attr getattr(int fid) {
        return P9Wire.Attr.read(rpc(P9Wire.getattr(fid)));
    }

    public void lopen(int fid, int flags) {
        rpc(P9Wire.lopen(fid, flags));
    }

    public byte[] read(int fid, long offset, int count) {
        ByteBuffer b = rpc(P9Wire.read(fid, offset, count));
        byte[] data = new byte[b.getInt()];
        b.get(data);
        return data;
    }

    /** Reads the whole open file from offset 0 in msize-sized reads. */
    public byte[] readAll(int fid) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        long off = 0;
        while (true) {
            byte[] d = read(fid, off, msize - 24);   // as Linux: msize less P9_IOHDRSZ (diod refuses more)
            if (d.length == 0) {
                return out.toByteArray();
            }
            out.write(d, 0, d.length);
            off += d.length;
        }
    }

    public int write(int fid, long offset, byte[] data) {
        return rpc(P9Wire.write(fid, offset, data)).getInt();
    }

    public void clunk(int fid) {
        rpc(P9Wire.clunk(fid));
    }

    /** Directory entries (names) from offset 0 on. */
    public List<String> readdirNames(int fid) {
        List<String> names = new ArrayList<>();
        long offset = 0;
        while (true) {
            ByteBuffer b = rpc(P9Wire.readdir(fid, offset, msize - 24));
            int count = b.getInt();
            if (count == 0) {
                return names;
            }
            int end = b.position() + count;
            while (b.position() < end) {
                P9Wire.Qid.read(b);
                offset = b.getLong();
                b.get();
                names.add(P9Wire.string(b));
            }
        }
    }

    @Override
    public void close() {
        transport.close();
    }
}
