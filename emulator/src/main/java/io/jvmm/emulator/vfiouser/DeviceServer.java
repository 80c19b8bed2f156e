package io.jvmm.emulator.vfiouser;

import io.jvmm.monitor.HotPlug;
import io.jvmm.monitor.MachineEvent;
import io.jvmm.monitor.MachineEvents;
import io.jvmm.monitor.MonitorSupport;
import io.jvmm.monitor.MonitoredDevice;
import io.jvmm.monitor.MonitoredMachine;
import io.jvmm.monitor.PciSlot;
import io.jvmm.monitor.RunState;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.Machine;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.assembly.MachineAssembly;
import io.jvmm.platform.config.BackendConfig;
import io.jvmm.platform.config.DeviceConfig;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The vfio-user device server as a {@link Machine}: each PCI device plugged in is served on its
 * own socket, to its own client, with its own {@link ServedServices}. Devices are assembled into it
 * exactly as into the KVM or the no-CPU machine.
 *
 * <p>As a {@link MonitoredMachine} (QMP): {@code device_add} serves a new device on a new socket,
 * {@code <first socket>-<id>} ({@link #enableHotPlug}), which a VMM attaches with its own
 * {@code device_add vfio-user-pci}; {@code device_del} stops serving it and closes it, then
 * DEVICE_DELETED. {@code quit} ends the server. It runs no vCPUs: {@code stop}, {@code cont} and
 * {@code system_reset} belong to the VMM that uses the devices and are refused.
 */
public final class DeviceServer implements Machine, MonitoredMachine, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DeviceServer.class);

    private final Map<String, Path> sockets;
    private final MeterRegistry meters;
    private final Map<String, ServedServices> pending = new HashMap<>();
    private final List<ServedDevice> devices = new ArrayList<>();
    private final List<VfioUserServer> servers = new ArrayList<>();
    private final List<BuiltDevice> built = new ArrayList<>();
    private final MonitorSupport monitor = new MonitorSupport(RunState.RUNNING);
    private Path hotPlugBase;
    private Runnable onQuit = () -> { };

    /** @param sockets the socket each device id is served on */
    public DeviceServer(Map<String, Path> sockets, MeterRegistry meters) {
        this.sockets = new HashMap<>(sockets);
        this.meters = meters;
    }

    @Override
    public String kind() {
        return "vfio-user";
    }

    @Override
    public synchronized MachineServices servicesFor(String deviceId) {
        ServedServices services = new ServedServices(deviceId, meters);
        ServedServices old = pending.put(deviceId, services);
        if (old != null) {
            old.close();
        }
        return services;
    }

    @Override
    public synchronized void plug(BuiltDevice device) {
        if (!(device instanceof BuiltDevice.Pci pci)) {
            throw new UserError("-device " + device.id() + " is not a PCI device, so it cannot be served over vfio-user");
        }
        ServedServices services = pending.remove(device.id());
        Path socket = sockets.get(device.id());
        Objects.requireNonNull(services, () -> device.id() + " was not built with this server's services");
        if (socket == null) {
            services.close();
            throw new UserError("no --vfio-user-socket for device " + device.id());
        }
        ServedDevice served = new ServedDevice(pci.device(), services);
        try {
            servers.add(VfioUserServer.start(socket, served));
        } catch (RuntimeException e) {
            // the assembly closes the built device; the services are ours to release
            services.close();
            throw new UserError("cannot serve " + device.id() + " on " + socket + ": " + e.getMessage(), e);
        }
        devices.add(served);
        built.add(device);
    }

    /** The devices being served, in order. */
    public synchronized List<ServedDevice> devices() {
        return List.copyOf(devices);
    }

    /** The servers, in the devices' order. */
    public synchronized List<VfioUserServer> servers() {
        return List.copyOf(servers);
    }

    // ---- MonitoredMachine ---------------------------------------------------------------------

    /** Records the options the devices were made from (for the monitor). */
    public void configured(MachineConfig config) {
        monitor.configure(config);
    }

    /** Lets a monitor add devices, each served on {@code <base>-<id>}. */
    public synchronized void enableHotPlug(Path base) {
        this.hotPlugBase = Objects.requireNonNull(base, "base");
    }

    /** What {@code quit} does once SHUTDOWN is reported (the command line's server stops everything). */
    public synchronized void onQuit(Runnable action) {
        this.onQuit = Objects.requireNonNull(action, "action");
    }

    @Override
    public RunState runState() {
        return monitor.state();
    }

    @Override
    public void stop() {
        throw noVcpus("stop");
    }

    @Override
    public void cont() {
        throw noVcpus("cont");
    }

    @Override
    public void systemReset() {
        throw noVcpus("system_reset");
    }

    private static UserError noVcpus(String command) {
        return new UserError(command + ": the vfio-user device server runs no vCPUs; the VMM that uses its devices (its own monitor) "
                + "stops, resumes and resets its guest, and resets the devices with it");
    }

    @Override
    public void quit() {
        Runnable action;
        synchronized (this) {
            action = onQuit;
        }
        monitor.quitByMonitor();
        action.run();
    }

    @Override
    public synchronized List<MonitoredDevice> monitoredDevices() {
        return monitor.devices(built);
    }

    @Override
    public List<BackendConfig<?>> backends(BackendKind kind) {
        return monitor.backends(kind);
    }

    /** Each served device, numbered in the order served (there is no bus of our own: the client's bus places it). */
    @Override
    public synchronized List<PciSlot> pciSlots() {
        List<PciSlot> slots = new ArrayList<>();
        for (int i = 0; i < devices.size(); i++) {
            slots.add(new PciSlot(0, i, 0, devices.get(i).pci()));
        }
        return slots;
    }

    @Override
    public Optional<io.jvmm.monitor.BlockExports> blockExports() {
        return monitor.blockExports();
    }

    /** Where QMP's NBD export commands act (the caller keeps and closes it). */
    public void useBlockExports(io.jvmm.monitor.BlockExports exports) {
        monitor.useBlockExports(exports);
    }

    @Override
    public synchronized Optional<HotPlug> hotPlug() {
        if (hotPlugBase == null) {
            return Optional.empty();
        }
        return Optional.of(new HotPlug() {
            @Override
            public MonitoredDevice add(DeviceConfig<?> config) {
                return hotAdd(config);
            }

            @Override
            public void remove(String id) {
                hotRemove(id);
            }
        });
    }

    /** The socket a device added by a monitor is served on. */
    public synchronized Path hotPlugSocket(String id) {
        return hotPlugBase.resolveSibling(hotPlugBase.getFileName() + "-" + id);
    }

    private MonitoredDevice hotAdd(DeviceConfig<?> config) {
        Path socket;
        synchronized (this) {
            socket = hotPlugSocket(config.id());
            sockets.put(config.id(), socket);
        }
        try {
            BuiltDevice device = MachineAssembly.plug(config, this);
            monitor.hotplugged(config);
            log.info("{}: serving {} over vfio-user on {} (device_add)", config.id(), config.driver(), socket);
            return new MonitoredDevice(config, device, true);
        } catch (RuntimeException e) {
            synchronized (this) {
                sockets.remove(config.id());
            }
            throw e;
        }
    }

    private void hotRemove(String id) {
        VfioUserServer server;
        ServedDevice device;
        synchronized (this) {
            int index = -1;
            for (int i = 0; i < devices.size(); i++) {
                if (devices.get(i).id().equals(id)) {
                    index = i;
                }
            }
            if (index < 0) {
                throw new UserError("device '" + id + "' is not served here");
            }
            server = servers.remove(index);
            device = devices.remove(index);
            built.remove(index);
            sockets.remove(id);
        }
        try {
            server.close();   // the client's connection ends; its clean-up runs
            device.close();
        } finally {
            monitor.removed(id);
            log.info("{}: no longer served over vfio-user (device_del)", id);
            monitor.events().emit(new MachineEvent.DeviceDeleted(id, MonitoredDevice.PERIPHERAL + "/" + id));
        }
    }

    @Override
    public MachineEvents events() {
        return monitor.events();
    }

    /** Stops every server, then closes the devices. */
    @Override
    public synchronized void close() {
        for (VfioUserServer s : servers) {
            try {
                s.close();
            } catch (RuntimeException e) {
                log.warn("stopping the vfio-user server of {}: {}", s.device().id(), e.toString());
            }
        }
        for (ServedDevice d : devices) {
            try {
                d.close();
            } catch (RuntimeException e) {
                log.warn("closing {}: {}", d.id(), e.toString());
            }
        }
        pending.values().forEach(ServedServices::close);
        pending.clear();
        servers.clear();
        devices.clear();
        built.clear();
    }
}
