package io.jvmm.chardev;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class UnixSocketChannelTest {
    private UnixSocketChannel a;
    private UnixSocketChannel b;

    @BeforeEach
    void pair() {
        UnixSocketChannel[] p = UnixSocketChannel.pair();
        a = p[0];
        b = p[1];
    }

    @AfterEach
    void closePair() {
        a.close();
        b.close();
    }

    @Test
    void bytesAndEightFdsTravelInOneMessage() {
        List<EventFd> sent = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            sent.add(EventFd.create());
        }
        try {
            byte[] payload = "vhost-user SET_MEM_TABLE".getBytes();
            a.send(ByteBuffer.wrap(payload), sent.stream().mapToInt(EventFd::fd).toArray());

            ByteBuffer dst = ByteBuffer.allocateDirect(256);
            ReceivedMessage m = b.receive(dst, UnixSocketChannel.MAX_FDS);
            assertEquals(payload.length, m.bytes(), "all bytes in the one recvmsg");
            assertEquals(payload.length, dst.position(), "receive advances the position");
            byte[] got = new byte[payload.length];
            dst.flip().get(got);
            assertArrayEquals(payload, got);
            assertEquals(8, m.fds().length, "all 8 fds in the same recvmsg");
            for (int i = 0; i < 8; i++) {
                try (EventFd received = EventFd.adopt(m.fds()[i])) {
                    sent.get(i).signal(i + 1);
                    assertEquals(i + 1, received.consume(), "fd " + i + " is the " + i + "th eventfd sent, in order");
                }
            }
        } finally {
            sent.forEach(EventFd::close);
        }
    }

    @Test
    void moreFdsThanRoomForIsAnErrorAndLeaksNothing() {
        try (EventFd e1 = EventFd.create(); EventFd e2 = EventFd.create(); EventFd e3 = EventFd.create()) {
            Map<Integer, OpenFiles.Identity> sent = OpenFiles.identities(e1.fd(), e2.fd(), e3.fd());
            a.send(ByteBuffer.wrap(new byte[] {1, 2, 3, 4}), e1.fd(), e2.fd(), e3.fd());
            TooManyFdsException ex = assertThrows(TooManyFdsException.class, () -> b.receive(ByteBuffer.allocate(16), 1));
            assertTrue(ex.getMessage().contains("MSG_CTRUNC") && ex.getMessage().contains("1 expected"), ex.getMessage());
            sent.forEach((fd, file) -> OpenFiles.assertOnlyOpenAs(file, "the fd that did arrive was closed", fd));
        }
    }

    @Test
    void endOfStreamIsDetected() {
        a.send(ByteBuffer.wrap(new byte[] {9}));
        a.close();
        ByteBuffer dst = ByteBuffer.allocate(8);
        assertEquals(1, b.receive(dst, 0).bytes());
        ReceivedMessage m = b.receive(dst, 0);
        assertTrue(m.eof());
        assertEquals(0, m.fds().length);
    }

    @Test
    void receiveFullyReportsHowMuchArrivedBeforeEof() {
        a.send(ByteBuffer.wrap(new byte[] {1, 2, 3}));
        a.shutdownOutput();
        EndOfStreamException e = assertThrows(EndOfStreamException.class,
                () -> b.receiveFully(ByteBuffer.allocate(12), new ArrayList<>()));
        assertEquals(3, e.received());
        assertEquals(12, e.expected());
        assertTrue(e.getMessage().contains("3 of 12 bytes"), e.getMessage());
    }

    @Test
    void receiveFullyAssemblesPiecesAndCollectsFds() throws Exception {
        try (EventFd e1 = EventFd.create(); EventFd e2 = EventFd.create()) {
            int receiver = KernelThreads.currentTid();
            CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                a.send(ByteBuffer.wrap(new byte[] {1, 2}), e1.fd());
                // Blocked in recvmsg with the first piece sent: it took that piece and waits for
                // the rest, so the message is assembled from two receives (a sleep could not know).
                try {
                    KernelThreads.awaitBlockedIn(receiver, KernelThreads.SYS_RECVMSG, "the receiver waiting for the second piece");
                } finally {
                    a.send(ByteBuffer.wrap(new byte[] {3, 4, 5}), e2.fd());   // never leaves the receiver hanging
                }
            });
            ByteBuffer dst = ByteBuffer.allocate(5);
            List<Integer> fds = new ArrayList<>();
            b.receiveFully(dst, fds);
            sender.get(10, TimeUnit.SECONDS);
            assertArrayEquals(new byte[] {1, 2, 3, 4, 5}, dst.array());
            assertEquals(2, fds.size());
            Fds.closeQuietly(fds);
        }
    }

    @Test
    void largeMessagesFromHeapAndDirectBuffersArriveIntact() throws Exception {
        int size = 3 * 1024 * 1024; // larger than the socket buffer: several sendmsg calls
        byte[] data = new byte[size];
        for (int i = 0; i < size; i++) {
            data[i] = (byte) (i * 7 + (i >> 12));
        }
        try (EventFd e = EventFd.create()) {
            CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                ByteBuffer heap = ByteBuffer.wrap(data);
                a.send(heap, e.fd());
                ByteBuffer direct = ByteBuffer.allocateDirect(size).put(data).flip();
                a.send(direct);
            });
            List<Integer> fds = new ArrayList<>();
            ByteBuffer intoDirect = ByteBuffer.allocateDirect(size);
            b.receiveFully(intoDirect, fds);
            ByteBuffer intoHeap = ByteBuffer.allocate(size);
            b.receiveFully(intoHeap, fds);
            sender.get(20, TimeUnit.SECONDS);
            assertEquals(1, fds.size(), "the fd travelled once, with the first piece");
            Fds.closeQuietly(fds);
            byte[] got = new byte[size];
            intoDirect.flip().get(got);
            assertArrayEquals(data, got, "heap -> direct");
            assertArrayEquals(data, intoHeap.array(), "direct -> heap");
        }
    }

    @Test
    void sharedMemorySlicesAreSentInPlace() {
        try (SharedMemory mem = SharedMemory.create("socket-io", 4096)) {
            mem.window(0).putLong(100, 0x0102030405060708L);
            a.send(mem.slice(100, 8));
            ByteBuffer into = mem.slice(200, 8);
            b.receiveFully(into, new ArrayList<>());
            assertEquals(0x0102030405060708L, mem.window(0).getLong(200));
        }
    }

    @Test
    void receiveTimeoutBoundsTheWait() {
        b.setReceiveTimeout(Duration.ofMillis(100));
        long start = System.nanoTime();
        ReceiveTimeoutException e = assertThrows(ReceiveTimeoutException.class, () -> b.receive(ByteBuffer.allocate(4), 0));
        assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(90));
        assertTrue(e.getMessage().contains("100 ms"), e.getMessage());
        a.send(ByteBuffer.wrap(new byte[] {1}));
        assertEquals(1, b.receive(ByteBuffer.allocate(4), 0).bytes(), "still usable after a timeout");
    }

    @Test
    void badSendsAreRejected() throws Exception {
        int[] nine = new int[9];
        try (EventFd e = EventFd.create()) {
            java.util.Arrays.fill(nine, e.fd());
            assertThrows(IllegalArgumentException.class, () -> a.send(ByteBuffer.allocate(1), nine));
            assertThrows(IllegalArgumentException.class, () -> a.send(ByteBuffer.allocate(0), e.fd()));
            assertThrows(IllegalArgumentException.class, () -> a.send(ByteBuffer.allocate(1), -1));
            assertThrows(IllegalArgumentException.class, () -> b.receive(ByteBuffer.allocate(0), 0));
        }
    }

    @Test
    void sendToAGonePeerIsEpipe() {
        b.close();
        NativeException e = assertThrows(NativeException.class, () -> a.send(ByteBuffer.allocate(16)));
        assertEquals("EPIPE", e.errnoName());
    }

    @Test
    void closeWakesABlockedReceiver() throws Exception {
        CompletableFuture<Integer> tid = new CompletableFuture<>();
        CompletableFuture<ReceivedMessage> r = CompletableFuture.supplyAsync(() -> {
            tid.complete(KernelThreads.currentTid());
            return b.receive(ByteBuffer.allocate(4), 0);
        });
        KernelThreads.awaitBlockedIn(tid.get(10, TimeUnit.SECONDS), KernelThreads.SYS_RECVMSG, "recvmsg on an empty socket");
        assertFalse(r.isDone());
        b.close();
        ReceivedMessage m = r.get(10, TimeUnit.SECONDS);
        assertTrue(m.eof());
        assertThrows(IllegalStateException.class, () -> b.receive(ByteBuffer.allocate(4), 0));
    }

    @Test
    void adoptChecksTheFd() {
        int dup = Fds.dup(a.fd());
        try (UnixSocketChannel adopted = UnixSocketChannel.adopt(dup)) {
            adopted.send(ByteBuffer.wrap(new byte[] {5}));
            ByteBuffer dst = ByteBuffer.allocate(1);
            b.receive(dst, 0);
            assertEquals(5, dst.get(0));
        }
        try (EventFd e = EventFd.create()) {
            OpenFiles.Identity eventfd = OpenFiles.identity(e.fd());
            int notSocket = Fds.dup(e.fd());
            IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, () -> UnixSocketChannel.adopt(notSocket));
            assertTrue(ex.getMessage().contains("not a socket"), ex.getMessage());
            OpenFiles.assertOnlyOpenAs(eventfd, "a failed adopt closes the fd it was given", e.fd());
        }
    }

    /**
     * close() on one thread while another thread loops receiving: every receive returns data, end
     * of stream, or "closed" (it began after close), never EBADF or another file's data because
     * close released the fd between the receive's check and its recvmsg.
     */
    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)   // a hang guard: the trials stop at their own budget
    void closeRacingReceivesNeverLeavesThemAReleasedFd() throws Exception {
        Random random = new Random(42);
        // Every trial's outcome is checked exactly; a loaded host runs fewer (at least 50) within the budget.
        long budgetEnd = System.nanoTime() + UnixServerSocketTest.RACE_BUDGET.toNanos();
        for (int trial = 0; trial < 300 && (trial < 50 || System.nanoTime() - budgetEnd < 0); trial++) {
            UnixSocketChannel[] p = UnixSocketChannel.pair();
            try {
                p[1].send(ByteBuffer.wrap(new byte[2048]));   // a couple of ms of one-byte receives
                AtomicReference<Throwable> failure = new AtomicReference<>();
                Thread receiver = new Thread(() -> {
                    ByteBuffer one = ByteBuffer.allocateDirect(1);
                    try {
                        while (!p[0].receive(one.clear(), 0).eof()) {
                            // keep receiving until close() ends it
                        }
                    } catch (IllegalStateException closedFirst) {
                        // the receive began after close(): the documented outcome
                    } catch (Throwable t) {
                        failure.set(t);
                    }
                }, "racing-receiver");
                receiver.start();
                spin(random.nextInt(3_000_000));
                p[0].close();
                receiver.join(TimeUnit.SECONDS.toMillis(30));
                assertFalse(receiver.isAlive(), "trial " + trial + ": the receiver is stuck after close()");
                int t = trial;
                assertNull(failure.get(), () -> "trial " + t + ": a receive racing close() failed with " + failure.get());
            } finally {
                p[0].close();
                p[1].close();
            }
        }
    }

    /** Busy-waits (a sleep could not place close() at a given microsecond). */
    static void spin(long nanos) {
        long until = System.nanoTime() + nanos;
        while (System.nanoTime() - until < 0) {
            Thread.onSpinWait();
        }
    }

}
