package io.jvmm.emulator.vfiouser;

import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.Machine;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.options.UserError;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The vfio-user device server as a {@link Machine}: each PCI device plugged in is served on its
 * own socket, to its own client, with its own {@link ServedServices}. Devices are assembled into it
 * exactly as into the KVM or the no-CPU machine.
 */
public final class DeviceServer implements Machine, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DeviceServer.class);

    private final Map<String, Path> sockets;
    private final MeterRegistry meters;
    private final Map<String, ServedServices> pending = new HashMap<>();
    private final List<ServedDevice> devices = new ArrayList<>();
    private final List<VfioUserServer> servers = new ArrayList<>();

    /** @param sockets the socket each device id is served on */
    public DeviceServer(Map<String, Path> sockets, MeterRegistry meters) {
        this.sockets = Map.copyOf(sockets);
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
    }

    /** The devices being served, in order. */
    public synchronized List<ServedDevice> devices() {
        return List.copyOf(devices);
    }

    /** The servers, in the devices' order. */
    public synchronized List<VfioUserServer> servers() {
        return List.copyOf(servers);
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
    }
}
