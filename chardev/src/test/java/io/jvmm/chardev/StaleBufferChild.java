package io.jvmm.chardev;

import java.nio.ByteBuffer;

/**
 * Child-process half of the stale-buffer test: touches a window after its SharedMemory was
 * closed. Exit 3 means the JVM raised an InternalError (the guard worked); a crash would be
 * a signal exit (134) instead.
 */
public final class StaleBufferChild {
    private StaleBufferChild() {
    }

    public static void main(String[] args) {
        Thread.setDefaultUncaughtExceptionHandler((t, e) -> {
            e.printStackTrace();
            Runtime.getRuntime().halt(e instanceof InternalError ? 3 : 1);
        });
        SharedMemory mem = SharedMemory.create("stale", 1 << 20);
        ByteBuffer stale = mem.slice(0, 4096);   // derived from window 0: keeps its guard reachable
        stale.putInt(0, 42);
        mem.close();
        for (int i = 0; i < 3; i++) {
            System.gc();   // the window itself is no longer referenced by the closed SharedMemory
        }
        long sum = 0;
        for (int i = 0; i < 1_000_000; i++) {
            sum += stale.getInt((i % 1000) * 4); // must fault, not crash
        }
        System.out.println("read after close did not fault: " + sum);
        System.exit(0);
    }
}
