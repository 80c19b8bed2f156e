package io.jvmm.monitor;

import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where a machine reports its {@link MachineEvent}s and monitors listen. Listeners are called on
 * the thread that emits, in the order they were added; one that throws is logged and the others
 * still hear the event.
 */
public final class MachineEvents {
    private static final Logger log = LoggerFactory.getLogger(MachineEvents.class);

    private final CopyOnWriteArrayList<Consumer<MachineEvent>> listeners = new CopyOnWriteArrayList<>();

    public void addListener(Consumer<MachineEvent> listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    public void removeListener(Consumer<MachineEvent> listener) {
        listeners.remove(listener);
    }

    public void emit(MachineEvent event) {
        log.debug("machine event {}", event);
        for (Consumer<MachineEvent> l : listeners) {
            try {
                l.accept(event);
            } catch (RuntimeException e) {
                log.warn("a listener failed on machine event {}: {}", event.name(), e.toString());
            }
        }
    }
}
