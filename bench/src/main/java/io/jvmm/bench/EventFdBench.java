package io.jvmm.bench;

import io.jvmm.chardev.EventFd;
import org.openjdk.jmh.annotations.*;

import java.util.concurrent.TimeUnit;

/** eventfd signal + consume: the cost of one notification hop between threads or processes. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class EventFdBench {
    private EventFd fd;

    @Setup
    public void setUp() {
        fd = EventFd.create();
    }

    @TearDown
    public void tearDown() {
        fd.close();
    }

    @Benchmark
    public long signalAndConsume() {
        fd.signal();
        return fd.consume();
    }
}
