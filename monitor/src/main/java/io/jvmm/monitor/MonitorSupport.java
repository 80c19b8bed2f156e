package io.jvmm.monitor;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.config.DeviceConfig;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.registry.BackendKind;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The part of {@link MonitoredMachine} every machine implements the same way, for a machine to
 * hold and delegate to: its run state, its events, and the configuration of each device it
 * plugged (by id) and of its back-ends. Thread-safe.
 */
public final class MonitorSupport {
    private final MachineEvents events = new MachineEvents();
    private final Map<String, DeviceConfig<?>> configs = new LinkedHashMap<>();
    private final Set<String> hotplugged = new HashSet<>();
    private final Map<BackendKind, List<BackendConfig<?>>> backends = new EnumMap<>(BackendKind.class);
    private RunState state;
    private BlockExports blockExports;

    public MonitorSupport(RunState initial) {
        this.state = Objects.requireNonNull(initial, "initial");
    }

    /** Records the devices and back-ends the machine is built from. */
    public synchronized void configure(MachineConfig config) {
        backends.clear();
        config.backends().forEach((kind, byId) -> backends.put(kind, new ArrayList<>(byId.values())));
        for (DeviceConfig<?> d : config.devices()) {
            configs.put(d.id(), d);
        }
    }

    /** Records a device plugged while the machine runs. */
    public synchronized void hotplugged(DeviceConfig<?> config) {
        configs.put(config.id(), config);
        hotplugged.add(config.id());
    }

    /** Forgets an unplugged device. */
    public synchronized void removed(String id) {
        configs.remove(id);
        hotplugged.remove(id);
    }

    public synchronized List<BackendConfig<?>> backends(BackendKind kind) {
        return List.copyOf(backends.getOrDefault(kind, List.of()));
    }

    /** The back-ends by kind and id, as the parser wants them for {@code device_add}. */
    public synchronized Map<BackendKind, Map<String, BackendConfig<?>>> backendsById() {
        Map<BackendKind, Map<String, BackendConfig<?>>> all = new EnumMap<>(BackendKind.class);
        backends.forEach((kind, list) -> {
            Map<String, BackendConfig<?>> byId = new LinkedHashMap<>();
            list.forEach(b -> byId.put(b.id(), b));
            all.put(kind, byId);
        });
        return all;
    }

    /** The configuration of every device recorded, in the order recorded. */
    public synchronized List<DeviceConfig<?>> deviceConfigs() {
        return List.copyOf(configs.values());
    }

    /**
     * {@code built} (the machine's devices, in plug order) with their configurations; a device
     * plugged in code, with no configuration recorded, is left out.
     */
    public synchronized List<MonitoredDevice> devices(List<? extends BuiltDevice> built) {
        List<MonitoredDevice> out = new ArrayList<>();
        for (BuiltDevice b : built) {
            DeviceConfig<?> c = configs.get(b.id());
            if (c != null) {
                out.add(new MonitoredDevice(c, b, hotplugged.contains(b.id())));
            }
        }
        return out;
    }

    /** Where QMP's NBD export commands act (the machine's owner keeps and closes it). */
    public synchronized void useBlockExports(BlockExports exports) {
        blockExports = exports;
    }

    public synchronized java.util.Optional<BlockExports> blockExports() {
        return java.util.Optional.ofNullable(blockExports);
    }

    public synchronized RunState state() {
        return state;
    }

    /** Sets the state; returns the one before. */
    public synchronized RunState setState(RunState next) {
        RunState before = state;
        state = Objects.requireNonNull(next, "next");
        return before;
    }

    public MachineEvents events() {
        return events;
    }

    // ---- the transitions machines without vCPU threads share (QEMU's events with them) --------

    /** QMP stop: a running machine is paused (STOP); otherwise nothing changes. */
    public void pause() {
        boolean stopped;
        synchronized (this) {
            stopped = state == RunState.RUNNING;
            if (stopped) {
                state = RunState.PAUSED;
            }
        }
        if (stopped) {
            events.emit(new MachineEvent.Stop());
        }
    }

    /**
     * QMP cont: a paused machine runs again (RESUME); a running one is left alone.
     *
     * @throws io.jvmm.platform.options.UserError if the machine ({@code machine} names it) has shut down
     */
    public void resume(String machine) {
        boolean resumed;
        synchronized (this) {
            if (state == RunState.SHUTDOWN) {
                throw new io.jvmm.platform.options.UserError(machine + " has shut down; it cannot be resumed");
            }
            resumed = state != RunState.RUNNING;
            state = RunState.RUNNING;
        }
        if (resumed) {
            events.emit(new MachineEvent.Resume());
        }
    }

    /** QMP system_reset was done: RESET. */
    public void resetByMonitor() {
        events.emit(new MachineEvent.Reset(false, "host-qmp-system-reset"));
    }

    /** QMP quit: the machine is shut down (SHUTDOWN, host-qmp-quit); the caller then ends it. */
    public void quitByMonitor() {
        setState(RunState.SHUTDOWN);
        events.emit(new MachineEvent.Shutdown(false, "host-qmp-quit"));
    }
}
