package io.jvmm.pci.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class IoCompletionTest {

    @Test
    void doneIsCompleted() {
        assertTrue(IoCompletion.DONE.isDone());
        assertFalse(IoCompletion.DONE.isCompletedExceptionally());
    }

    @Test
    void allOfCompletedPartsIsDone() {
        assertSame(IoCompletion.DONE, IoCompletion.all(List.of()));
        assertSame(IoCompletion.DONE, IoCompletion.all(List.of(IoCompletion.DONE, CompletableFuture.completedFuture(null))));
    }

    @Test
    void allWithOnePendingPartIsThatPart() {
        CompletableFuture<Void> pending = new CompletableFuture<>();
        assertSame(pending, IoCompletion.all(List.of(IoCompletion.DONE, pending)));
    }

    @Test
    void allCompletesOnlyWhenEveryPartHas() {
        CompletableFuture<Void> a = new CompletableFuture<>();
        CompletableFuture<Void> b = new CompletableFuture<>();
        CompletableFuture<Void> all = IoCompletion.all(List.of(a, IoCompletion.DONE, b));
        assertFalse(all.isDone());
        a.complete(null);
        assertFalse(all.isDone());
        b.complete(null);
        assertTrue(all.isDone());
    }

    @Test
    void allFailsWhenAPartFails() {
        CompletableFuture<Void> a = new CompletableFuture<>();
        CompletableFuture<Void> failed = CompletableFuture.failedFuture(new IllegalStateException("nack"));
        CompletableFuture<Void> all = IoCompletion.all(List.of(a, failed));
        a.complete(null);
        assertTrue(all.isCompletedExceptionally());
    }

    @Test
    void awaitTimesOutNamingWhatAndTheTimeout() {
        IoTimeoutException e = assertThrows(IoTimeoutException.class,
                () -> IoCompletion.await(new CompletableFuture<>(), Duration.ofMillis(50), "SET_VRING_CALL reply from fs0"));
        assertTrue(e.getMessage().contains("SET_VRING_CALL reply from fs0"), e.getMessage());
        assertTrue(e.getMessage().contains("50 ms"), e.getMessage());
    }

    @Test
    void awaitReturnsWhenCompletedLater() {
        CompletableFuture<Void> f = new CompletableFuture<>();
        new Thread(() -> f.complete(null)).start();
        IoCompletion.await(f, Duration.ofSeconds(10), "x");
        assertTrue(f.isDone());
        IoCompletion.await(IoCompletion.DONE, Duration.ZERO, "nothing");
    }

    @Test
    void awaitRethrowsAnUncheckedFailureItself() {
        IllegalStateException cause = new IllegalStateException("back-end said no");
        IllegalStateException thrown = assertThrows(IllegalStateException.class,
                () -> IoCompletion.await(CompletableFuture.failedFuture(cause), Duration.ofSeconds(1), "x"));
        assertSame(cause, thrown);
    }

    @Test
    void awaitWrapsACheckedFailureNamingWhat() {
        IOException cause = new IOException("socket closed");
        IoFailedException thrown = assertThrows(IoFailedException.class,
                () -> IoCompletion.await(CompletableFuture.failedFuture(cause), Duration.ofSeconds(1), "vring enable"));
        assertSame(cause, thrown.getCause());
        assertTrue(thrown.getMessage().contains("vring enable"), thrown.getMessage());
    }
}
