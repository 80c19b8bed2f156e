package io.jvmm.platform;

import io.jvmm.chardev.EventContext;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.pci.msix.ContextGuestNotifiers;
import io.jvmm.pci.msix.GuestNotifiers;
import io.jvmm.pci.msix.InterruptSink;
import io.jvmm.pci.msix.Msix;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Objects;
import java.util.function.BiConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Machine services whose interrupts end in an {@link InterruptSink} in this process: the no-CPU
 * machine's, and what unit tests build a single device with. Guest notifiers are eventfds watched
 * on a context of their own and turned into {@link Msix#signal}.
 */
public class InProcessServices implements MachineServices, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(InProcessServices.class);

    private final String kind;
    private final GuestMemory memory;
    private final InterruptSink sink;
    private final MeterRegistry meters;
    private final BiConsumer<Integer, String> exit;
    private final EventContext notifierContext;
    private final GuestNotifiers notifiers;

    /**
     * With guest notifiers watched on a context of these services' own.
     *
     * @param exit what {@link #requestExit} does (null: log it)
     */
    public InProcessServices(String kind, GuestMemory memory, InterruptSink sink, MeterRegistry meters,
                             BiConsumer<Integer, String> exit) {
        this(kind, memory, sink, meters, exit, EventContext.start(kind + "-notifiers"), null);
    }

    /** With {@code notifiers} of the caller's, which {@link #close} closes if they are closeable. */
    protected InProcessServices(String kind, GuestMemory memory, InterruptSink sink, MeterRegistry meters,
                                BiConsumer<Integer, String> exit, GuestNotifiers notifiers) {
        this(kind, memory, sink, meters, exit, null, Objects.requireNonNull(notifiers, "notifiers"));
    }

    private InProcessServices(String kind, GuestMemory memory, InterruptSink sink, MeterRegistry meters,
                              BiConsumer<Integer, String> exit, EventContext notifierContext, GuestNotifiers notifiers) {
        this.kind = Objects.requireNonNull(kind, "kind");
        this.memory = Objects.requireNonNull(memory, "memory");
        this.sink = Objects.requireNonNull(sink, "sink");
        this.meters = meters == null ? new SimpleMeterRegistry() : meters;
        this.exit = exit;
        this.notifierContext = notifierContext;
        this.notifiers = notifiers != null ? notifiers : new ContextGuestNotifiers(notifierContext);
    }

    /** Services over {@code memory} delivering to {@code sink}, for a device built on its own. */
    public static InProcessServices of(GuestMemory memory, InterruptSink sink) {
        return new InProcessServices("in-process", memory, sink, null, null);
    }

    @Override
    public String kind() {
        return kind;
    }

    @Override
    public GuestMemory memory() {
        return memory;
    }

    @Override
    public Msix msix(String deviceId, int vectors, EventContext context) {
        return MsixMetrics.register(new Msix(deviceId, vectors, sink), meters);
    }

    /** Where the MSI-X capabilities built here deliver. */
    protected InterruptSink sink() {
        return sink;
    }

    @Override
    public GuestNotifiers guestNotifiers() {
        return notifiers;
    }

    @Override
    public MeterRegistry meters() {
        return meters;
    }

    @Override
    public void requestExit(int status, String reason) {
        if (exit == null) {
            log.info("{} machine: exit requested with status {} ({})", kind, status, reason);
        } else {
            exit.accept(status, reason);
        }
    }

    /** Stops the notifiers (after the devices, which may still signal them, are closed). */
    @Override
    public void close() {
        if (notifiers instanceof AutoCloseable closeable) {
            try {
                closeable.close();
            } catch (Exception e) {
                log.warn("{} machine: closing the guest notifiers: {}", kind, e.toString());
            }
        }
        if (notifierContext != null) {
            notifierContext.close();
        }
    }
}
