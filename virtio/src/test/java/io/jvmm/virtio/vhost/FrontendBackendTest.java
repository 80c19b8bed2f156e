package io.jvmm.virtio.vhost;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.backend.ReplyFault;
import io.jvmm.virtio.vhost.backend.VhostUserBackend;
import io.jvmm.virtio.vhost.frontend.VhostUserConnection;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import io.jvmm.virtio.vhost.frontend.VhostUserFrontend;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The front-end protocol against the in-process Java back-end: handshake, acknowledgements with
 * and without REPLY_ACK, a ring served end to end, rule 3 and its broken variant, call fd
 * switching, config, reset, and every injected fault ending in a clear, bounded failure.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FrontendBackendTest {
    private static final long ALL_PROTOCOL = ProtocolFeatures.bit(ProtocolFeatures.MQ) | ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK)
            | ProtocolFeatures.bit(ProtocolFeatures.CONFIG) | ProtocolFeatures.bit(ProtocolFeatures.RESET_DEVICE);
    /** Replies normally take microseconds: the product's default bound, so a loaded machine never fails a test by it. */
    private static final Duration REPLY_TIMEOUT = VhostUserDeviceOptions.DEFAULT_REPLY_TIMEOUT;
    /** For the one test whose subject is the timeout itself. */
    private static final Duration SHORT_REPLY_TIMEOUT = Duration.ofMillis(500);
    private static final long BUFFER = 0x8000;

    @TempDir
    Path dir;

    private GuestMemory memory;
    private VhostUserBackend backend;
    private FillingDevice device;
    private VhostUserFrontend frontend;

    @AfterEach
    void tearDown() {
        if (frontend != null) {
            frontend.close();
        }
        if (backend != null) {
            backend.close();
        }
        if (memory != null) {
            memory.close();
        }
    }

    private void start(BackendFaults faults) {
        start(faults, REPLY_TIMEOUT);
    }

    private void start(BackendFaults faults, Duration replyTimeout) {
        memory = GuestMemory.ofRam("test-ram", 1 << 20);
        device = FillingDevice.standard();
        Path sock = dir.resolve("backend.sock");
        backend = VhostUserBackend.startServer(sock, "unit", device, faults);
        frontend = VhostUserFrontend.connect("dev0", SocketChardevSpec.client("c0", sock), replyTimeout);
        frontend.negotiate(ALL_PROTOCOL, 1);
    }

    private static <T> T get(CompletableFuture<T> f) throws Exception {
        return f.get(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
    }

    private static Throwable failure(CompletableFuture<?> f) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS));
        return e.getCause();
    }

    /** Memory table and ring 0 set up and started (kick and call given). */
    private TestRing startRing(EventFd kick, EventFd call) throws Exception {
        TestRing ring = new TestRing(memory, 0x1000, 16);
        get(frontend.setFeatures(FillingDevice.FEATURES, true));
        get(frontend.setMemTable(memory));
        get(frontend.setVringNum(0, ring.size, true));
        get(frontend.setVringBase(0, 0, true));
        get(frontend.setVringAddr(ring.address(0), true));
        get(frontend.setVringCall(0, call, true, "test"));
        get(frontend.setVringKick(0, kick, true));
        return ring;
    }

    private static void await(BooleanSupplier condition, String what) {
        Await.until(condition, what);
    }

    @Test
    void handshakeAgreesOnProtocolFeaturesAndOwnership() {
        start(BackendFaults.NONE);
        assertTrue(frontend.protocolFeaturesNegotiated());
        assertEquals(ALL_PROTOCOL, frontend.protocolFeatures());
        assertEquals(FillingDevice.FEATURES | (1L << 30), frontend.backendFeatures());
        assertTrue(backend.isOwned());
        assertEquals(ALL_PROTOCOL, backend.protocolFeatures());
    }

    @Test
    void withReplyAckAnAcknowledgedMessageIsOneRoundTrip() throws Exception {
        start(BackendFaults.NONE);
        long before = backend.messages();
        get(frontend.setFeatures(FillingDevice.FEATURES, true));
        assertEquals(before + 1, backend.messages(), "NEED_REPLY on the message itself");
    }

    @Test
    void withoutReplyAckAnAcknowledgedMessageIsFollowedByGetFeatures() throws Exception {
        start(BackendFaults.NONE.withHiddenProtocolFeatures(ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK)));
        assertFalse(frontend.hasProtocolFeature(ProtocolFeatures.REPLY_ACK));
        long before = backend.messages();
        get(frontend.setFeatures(FillingDevice.FEATURES, true));
        assertEquals(before + 2, backend.messages(), "SET_FEATURES then the GET_FEATURES round trip");
        frontend.setFeatures(FillingDevice.FEATURES, false);   // fire-and-forget: no barrier
        get(frontend.getFeatures());
        assertEquals(before + 4, backend.messages());
    }

    @Test
    void refusedRequestFailsItsFutureButNotTheConnection() throws Exception {
        start(BackendFaults.NONE);
        Throwable e = failure(frontend.setVringNum(0, 3, true));
        assertTrue(e.getMessage().contains("refused SET_VRING_NUM (vring 0, 3)"), e.getMessage());
        assertTrue(frontend.connection().isHealthy());
        assertEquals(FillingDevice.FEATURES | (1L << 30), get(frontend.getFeatures()));
    }

    @Test
    void ringIsServedEndToEndAndGetVringBaseStopsIt() throws Exception {
        start(BackendFaults.NONE);
        try (EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            TestRing ring = startRing(kick, call);
            get(frontend.setVringEnable(0, true, true));
            ring.addWritable(BUFFER, 64);
            kick.signal();
            await(() -> ring.usedIndex() == 1, "the request to be used");
            assertEquals(64, ring.usedLength(0));
            for (int i = 0; i < 64; i++) {
                assertEquals(FillingDevice.pattern(i), (byte) memory.read8(BUFFER + i), "byte " + i);
            }
            await(() -> call.consume() > 0, "the call eventfd");
            assertEquals(1, (int) get(frontend.getVringBase(0)), "stopped after one request");
            ring.addWritable(BUFFER, 8);
            kick.signal();
            Await.stays(() -> ring.usedIndex() == 1, "a stopped ring is not processed");
        }
    }

    @Test
    void rule3KickOnDisabledRingIsServedWhenEnabled() throws Exception {
        start(BackendFaults.NONE);
        try (EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            TestRing ring = startRing(kick, call);
            ring.addWritable(BUFFER, 16);
            kick.signal();
            await(() -> backend.kicksRemembered() == 1, "the kick to be remembered");
            assertEquals(0, ring.usedIndex(), "a disabled ring has no side effects");
            get(frontend.setVringEnable(0, true, true));
            await(() -> ring.usedIndex() == 1, "the remembered kick to be served");
        }
    }

    @Test
    void withRule3SwitchedOffTheEarlyKickIsLost() throws Exception {
        start(BackendFaults.NONE.withDropKicksWhileDisabled(true));
        try (EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            TestRing ring = startRing(kick, call);
            ring.addWritable(BUFFER, 16);
            kick.signal();
            await(() -> backend.kicksDropped() == 1, "the kick to be dropped");
            get(frontend.setVringEnable(0, true, true));
            Await.stays(() -> ring.usedIndex() == 0, "nothing serves the request the dropped kick announced");
            kick.signal();
            await(() -> ring.usedIndex() == 1, "the next kick to serve it");
        }
    }

    @Test
    void acknowledgedCallSwitchMeansCompletionsGoToTheNewFd() throws Exception {
        start(BackendFaults.NONE.withCallSwitchDelay(Duration.ofMillis(50)));
        try (EventFd kick = EventFd.create(); EventFd first = EventFd.create(); EventFd second = EventFd.create()) {
            TestRing ring = startRing(kick, first);
            get(frontend.setVringEnable(0, true, true));
            get(frontend.setVringCall(0, second, true, "second"));
            first.consume();
            ring.addWritable(BUFFER, 8);
            kick.signal();
            await(() -> second.consume() > 0, "the new call fd");
            assertEquals(0, first.consume(), "nothing on the replaced fd after the acknowledgement");
        }
    }

    @Test
    void configIsReadAndWrittenThroughTheBackend() throws Exception {
        start(BackendFaults.NONE);
        assertEquals("[2, 3, 4]", java.util.Arrays.toString(get(frontend.getConfig(2, 3))));
        get(frontend.setConfig(1, new byte[] {42}, true));
        assertEquals(42, device.config()[1]);
        Throwable e = failure(frontend.getConfig(4, 8));
        assertTrue(e.getMessage().contains("back-end failed GET_CONFIG (offset 4, 8 bytes)"), e.getMessage());
        assertTrue(frontend.connection().isHealthy(), "an empty GET_CONFIG reply is an error, not a protocol violation");
    }

    @Test
    void resetDeviceStopsRingsAndForgetsFeatures() throws Exception {
        start(BackendFaults.NONE);
        try (EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            TestRing ring = startRing(kick, call);
            get(frontend.setVringEnable(0, true, true));
            get(frontend.resetDevice());
            ring.addWritable(BUFFER, 8);
            kick.signal();
            Await.stays(() -> ring.usedIndex() == 0, "no ring runs after RESET_DEVICE");
            TestRing restarted = startRing(kick, call);   // a fresh (zeroed) ring, as after a guest reset
            get(frontend.setVringEnable(0, true, true));
            restarted.addWritable(BUFFER, 8);
            kick.signal();
            await(() -> restarted.usedIndex() == 1, "the restarted ring");
        }
    }

    @Test
    void shortReplyFailsTheConnectionNamingTheMessage() {
        String m = faultMessage(ReplyFault.SHORT);
        assertTrue(m.contains("reply to SET_VRING_NUM (vring 0, 16) has a 4-byte payload"), m);
    }

    @Test
    void malformedReplyFailsTheConnection() {
        String m = faultMessage(ReplyFault.MALFORMED);
        assertTrue(m.contains("malformed message") && m.contains("version 2"), m);
    }

    @Test
    void replyToTheWrongRequestFailsTheConnection() {
        String m = faultMessage(ReplyFault.WRONG_REQUEST);
        assertTrue(m.contains("reply to SET_VRING_NUM (vring 0, 16) is marked as a reply to GET_FEATURES"), m);
    }

    @Test
    void replyWithAStrayFdFailsTheConnection() {
        String m = faultMessage(ReplyFault.UNEXPECTED_FD);
        assertTrue(m.contains("carries 1 unexpected fd(s)"), m);
    }

    @Test
    void missingReplyTimesOutWithinTheBound() {
        String m = faultMessage(ReplyFault.NO_REPLY, SHORT_REPLY_TIMEOUT);
        // The request alone is timed: starting the back-end and the handshake took seconds on a
        // loaded host, and counted in, they could pass the default timeout this bound is about.
        long ms = lastRequestMs;
        assertTrue(m.contains("no reply to SET_VRING_NUM (vring 0, 16) within 500 ms"), m);
        assertTrue(ms >= SHORT_REPLY_TIMEOUT.toMillis() && ms < REPLY_TIMEOUT.toMillis(),
                "took " + ms + " ms: its own timeout, not the default one");
    }

    /** How long the faulty request of the last {@link #faultMessage} took to fail. */
    private long lastRequestMs;

    private String faultMessage(ReplyFault fault) {
        return faultMessage(fault, REPLY_TIMEOUT);
    }

    /** Spoils the reply to SET_VRING_NUM; returns the failure, checking it reached every later request. */
    private String faultMessage(ReplyFault fault, Duration replyTimeout) {
        start(BackendFaults.NONE.withReplyFault(fault, VhostUserRequest.SET_VRING_NUM, 1), replyTimeout);
        long t0 = System.nanoTime();
        Throwable e = failure(frontend.setVringNum(0, 16, true));
        lastRequestMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(e instanceof VhostUserException, e.toString());
        assertTrue(e.getMessage().startsWith("vhost-user back-end of dev0 (chardev 'c0', client of "), e.getMessage());
        VhostUserException f = frontend.connection().failure();
        assertNotNull(f, "the connection is marked failed");
        Throwable later = failure(frontend.getFeatures());
        assertEquals(f.getMessage(), later.getMessage(), "later requests fail at once with the same reason");
        return f.getMessage();
    }

    @Test
    void backendClosingTheConnectionFailsPendingRequests() {
        // Handshake: GET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_FEATURES, GET_QUEUE_NUM, SET_OWNER = 6.
        start(BackendFaults.NONE.withCloseAtMessage(8));
        CompletableFuture<Void> seventh = frontend.setFeatures(FillingDevice.FEATURES, true);
        CompletableFuture<Void> eighth = frontend.setVringNum(0, 16, true);
        Throwable e = failure(eighth);
        assertTrue(seventh.isDone() && !seventh.isCompletedExceptionally(), "the reply sent before the close still counts");
        assertTrue(e.getMessage().contains("SET_VRING_NUM (vring 0, 16) awaited its reply"), e.getMessage());
        assertTrue(e.getMessage().contains("closed the connection") || e.getMessage().contains("connection lost"), e.getMessage());
    }

    @Test
    void serverModeWaitsForTheBackendToConnect() throws Exception {
        memory = GuestMemory.ofRam("test-ram", 1 << 20);
        device = FillingDevice.standard();
        Path sock = dir.resolve("frontend.sock");
        CompletableFuture<VhostUserBackend> connecting = CompletableFuture.supplyAsync(() ->
                VhostUserBackend.startClient(sock, "client-mode", device, BackendFaults.NONE, Await.HANG_GUARD));
        frontend = VhostUserFrontend.connect("dev1", SocketChardevSpec.server("c1", sock, true).withConnectTimeout(Await.HANG_GUARD),
                REPLY_TIMEOUT);
        backend = connecting.get(Await.HANG_GUARD.toMillis(), TimeUnit.MILLISECONDS);
        frontend.negotiate(ALL_PROTOCOL, 1);
        assertTrue(frontend.peer().contains("server on " + sock), frontend.peer());
        assertTrue(backend.isOwned());
        try (EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            TestRing ring = startRing(kick, call);
            get(frontend.setVringEnable(0, true, true));
            ring.addWritable(BUFFER, 32);
            kick.signal();
            await(() -> ring.usedIndex() == 1, "the request, served by a back-end that connected to us");
        }
    }

    @Test
    void anAdoptedSocketpairCarriesTheProtocol() throws Exception {
        memory = GuestMemory.ofRam("test-ram", 1 << 20);
        device = FillingDevice.standard();
        UnixSocketChannel[] pair = UnixSocketChannel.pair();
        backend = new VhostUserBackend("pair", device, BackendFaults.NONE);
        Thread serving = new Thread(() -> backend.serve(pair[1]), "pair-backend");
        serving.start();
        frontend = new VhostUserFrontend(VhostUserConnection.adopt("socketpair back-end", pair[0], REPLY_TIMEOUT));
        frontend.negotiate(ALL_PROTOCOL, 1);
        assertEquals(ALL_PROTOCOL, frontend.protocolFeatures());
        frontend.close();
        assertTrue(backend.awaitEnd(Await.HANG_GUARD), "the back-end sees the front-end go");
        serving.join(Await.HANG_GUARD.toMillis());
        assertEquals("front-end closed the connection", backend.endReason());
        frontend = null;
    }

    /**
     * A back-end that stops reading fills the socket; the thread sending (a vCPU, under the
     * transport's lock) gets its write back within the reply timeout, and the connection fails
     * saying why, instead of blocking for ever.
     */
    @Test
    void aBackendThatStopsReadingCannotBlockTheSenderPastTheReplyTimeout() throws Exception {
        UnixSocketChannel[] pair = UnixSocketChannel.pair();
        VhostUserConnection connection = VhostUserConnection.adopt("silent back-end", pair[0], SHORT_REPLY_TIMEOUT);
        try {
            byte[] config = new byte[VhostUserHeader.MAX_PAYLOAD];
            long t0 = System.nanoTime();
            for (int i = 0; i < 100_000 && connection.isHealthy(); i++) {
                connection.post(VhostUserMessage.request(VhostUserRequest.SET_CONFIG, false, config), "SET_CONFIG " + i);
            }
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertFalse(connection.isHealthy(), "the sends filled the socket and one of them timed out");
            String why = connection.failure().getMessage();
            assertTrue(why.contains("read nothing for " + SHORT_REPLY_TIMEOUT.toMillis() + " ms"), why);
            assertTrue(ms < Await.HANG_GUARD.toMillis(), "the sender was released (" + ms + " ms)");
        } finally {
            connection.close();
            pair[1].close();
        }
    }

    @Test
    void withoutResetDeviceTheFallbackIsResetOwnerThenSetOwner() throws Exception {
        start(BackendFaults.NONE.withHiddenProtocolFeatures(ProtocolFeatures.bit(ProtocolFeatures.RESET_DEVICE)));
        assertFalse(frontend.hasProtocolFeature(ProtocolFeatures.RESET_DEVICE));
        try (EventFd kick = EventFd.create(); EventFd call = EventFd.create()) {
            TestRing ring = startRing(kick, call);
            get(frontend.setVringEnable(0, true, true));
            long before = backend.messages();
            get(frontend.resetDevice());
            assertEquals(before + 2, backend.messages(), "RESET_OWNER and SET_OWNER");
            assertTrue(backend.isOwned());
            ring.addWritable(BUFFER, 8);
            kick.signal();
            Await.stays(() -> ring.usedIndex() == 0, "RESET_OWNER stopped the ring");
        }
    }

    @Test
    void slowBackendIsWaitedForWithinTheTimeout() throws Exception {
        start(BackendFaults.NONE.withMessageDelay(Duration.ofMillis(100)));
        long t0 = System.nanoTime();
        get(frontend.setFeatures(FillingDevice.FEATURES, true));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertTrue(ms >= 100, "the acknowledgement waited for the slow back-end: " + ms + " ms");
        assertTrue(frontend.connection().isHealthy());
    }

    @Test
    void handshakeFailsClearlyWhenNobodyListens() {
        VhostUserException e = assertThrows(VhostUserException.class, () -> VhostUserFrontend.connect("dev9",
                SocketChardevSpec.client("c9", dir.resolve("nobody.sock")).withConnectTimeout(Duration.ofMillis(300)), REPLY_TIMEOUT));
        assertTrue(e.getMessage().contains("dev9") && e.getMessage().contains("nobody.sock"), e.getMessage());
    }

    @Test
    void faultSpecRoundTripsThroughItsCommandLineForm() {
        BackendFaults f = BackendFaults.NONE.withCallSwitchDelay(Duration.ofNanos(150_000)).withEnableDelay(Duration.ofMillis(2))
                .withCloseAtMessage(9).withReplyFault(ReplyFault.SHORT, VhostUserRequest.GET_VRING_BASE, 2)
                .withDropKicksWhileDisabled(true).withHiddenProtocolFeatures(ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK));
        assertEquals(f, BackendFaults.parse(f.format()));
        assertEquals(BackendFaults.NONE, BackendFaults.parse("none"));
        assertEquals(ProtocolFeatures.bit(3) | ProtocolFeatures.bit(9),
                BackendFaults.parse("hide-protocol-features=REPLY_ACK|CONFIG").hiddenProtocolFeatures());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BackendFaults.parse("explode=1"));
        assertTrue(e.getMessage().contains("unknown fault 'explode'"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> BackendFaults.parse("reply-fault=SHORT"));
    }
}
