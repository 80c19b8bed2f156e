package io.jvmm.emulator.kvm;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.ToLongBiFunction;

/**
 * An exit handler that records every access, collects port 0x3f8 output as text, answers reads
 * from a function, and can run a hook on each write or stop after a number of exits.
 */
final class RecordingExitHandler implements ExitHandler {
    static final int SERIAL = 0x3F8;

    /** One access as the guest made it. */
    record Access(boolean io, boolean write, long address, int size, long value) {
        static Access ioWrite(int port, int size, long value) {
            return new Access(true, true, port, size, value);
        }

        static Access ioRead(int port, int size, long value) {
            return new Access(true, false, port, size, value);
        }

        static Access mmioWrite(long address, int size, long value) {
            return new Access(false, true, address, size, value);
        }

        static Access mmioRead(long address, int size, long value) {
            return new Access(false, false, address, size, value);
        }
    }

    private final List<Access> accesses = new ArrayList<>();
    private final ByteArrayOutputStream serial = new ByteArrayOutputStream();
    private ToLongBiFunction<Long, Integer> ioReads = (port, size) -> 0;
    private ToLongBiFunction<Long, Integer> mmioReads = (address, size) -> 0;
    private Consumer<Access> onWrite = a -> { };
    private int stopAfterAccesses = Integer.MAX_VALUE;

    RecordingExitHandler answeringIo(ToLongBiFunction<Long, Integer> f) {
        ioReads = f;
        return this;
    }

    RecordingExitHandler answeringMmio(ToLongBiFunction<Long, Integer> f) {
        mmioReads = f;
        return this;
    }

    RecordingExitHandler onWrite(Consumer<Access> hook) {
        onWrite = hook;
        return this;
    }

    RecordingExitHandler stopAfter(int accessCount) {
        stopAfterAccesses = accessCount;
        return this;
    }

    @Override
    public synchronized long ioRead(int port, int size) {
        long v = ioReads.applyAsLong((long) port, size);
        accesses.add(Access.ioRead(port, size, v));
        return v;
    }

    @Override
    public synchronized void ioWrite(int port, int size, long value) {
        Access a = Access.ioWrite(port, size, value);
        accesses.add(a);
        if (port == SERIAL && size == 1) {
            serial.write((int) value);
        }
        onWrite.accept(a);
    }

    @Override
    public synchronized long mmioRead(long address, int size) {
        long v = mmioReads.applyAsLong(address, size);
        accesses.add(Access.mmioRead(address, size, v));
        return v;
    }

    @Override
    public synchronized void mmioWrite(long address, int size, long value) {
        Access a = Access.mmioWrite(address, size, value);
        accesses.add(a);
        onWrite.accept(a);
    }

    @Override
    public synchronized boolean shouldStop() {
        return accesses.size() >= stopAfterAccesses;
    }

    synchronized List<Access> accesses() {
        return List.copyOf(accesses);
    }

    /** Accesses to one port or MMIO address. */
    synchronized List<Access> at(boolean io, long address) {
        return accesses.stream().filter(a -> a.io() == io && a.address() == address).toList();
    }

    synchronized String serialText() {
        return serial.toString(java.nio.charset.StandardCharsets.US_ASCII);
    }
}
