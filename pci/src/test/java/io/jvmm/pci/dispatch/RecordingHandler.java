package io.jvmm.pci.dispatch;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A test handler: reads return {@code tag + offset} (so a test can tell which handler and which
 * offset answered), writes are recorded as "offset/size/value" and return {@link #nextCompletion}.
 */
public final class RecordingHandler implements IoHandler {

    public final long tag;
    public final List<String> writes = new CopyOnWriteArrayList<>();
    public final List<String> reads = new CopyOnWriteArrayList<>();
    public volatile CompletableFuture<Void> nextCompletion = IoCompletion.DONE;

    public RecordingHandler(long tag) {
        this.tag = tag;
    }

    @Override
    public long read(long offset, int size) {
        reads.add(offset + "/" + size);
        return tag + offset;
    }

    @Override
    public CompletableFuture<Void> write(long offset, int size, long value) {
        writes.add(offset + "/" + size + "/0x" + Long.toHexString(value));
        return nextCompletion;
    }
}
