package io.jvmm.emulator.vfiouser;

import io.jvmm.emulator.Main;
import io.jvmm.emulator.cli.JvmmCommand;
import io.jvmm.emulator.metrics.JvmmMetrics;
import io.jvmm.emulator.machine.ExitStatus;
import io.jvmm.monitor.qmp.QmpEndpoint;
import io.jvmm.monitor.qmp.QmpServers;
import io.jvmm.platform.assembly.MachineAssembly;
import io.jvmm.platform.config.DeviceConfig;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.options.UserError;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code jvmm --vfio-user-socket PATH -device ...}: builds the PCI devices the command line
 * describes and serves each on its own vfio-user socket until the process is told to stop
 * (SIGTERM, SIGINT). The i-th socket serves the i-th PCI device; with a single socket and several
 * devices, the others get {@code PATH-<device id>}. A vhost-user device (vhost-user-fs-pci with its
 * -chardev) connects to its back-end here, before its socket is served (rule 6). With {@code -qmp},
 * a QMP monitor can add devices (each on {@code PATH-<id>}), remove them, and quit.
 */
public final class DeviceServerMain {
    private static final Logger log = LoggerFactory.getLogger(DeviceServerMain.class);

    private DeviceServerMain() {
    }

    public static int run(JvmmCommand command, PrintStream err) {
        DeviceServer server = null;
        QmpServers monitors = null;
        io.jvmm.devices.nbd.NbdExports nbd = null;
        JvmmMetrics metrics = null;
        CountDownLatch stopped = new CountDownLatch(1);
        try {
            command.metrics();   // a mistake in -metrics is reported before anything else is checked
            MachineConfig config = command.toDeviceServerConfig();
            List<QmpEndpoint> qmp = command.qmpEndpoints();
            if (config.devices().isEmpty()) {
                throw new UserError("--vfio-user-socket: no PCI -device to serve (e.g. -device virtio-rng-pci)");
            }
            nbd = command.startNbdExports(config);
            if (nbd.server() != null) {
                err.println("jvmm: NBD server listening on " + nbd.server().address());
            }
            List<String> ids = config.devices().stream().map(DeviceConfig::id).toList();
            Map<String, Path> sockets = socketsFor(command.vfioUserSockets(), ids);
            metrics = Main.startMetrics(command, err);
            if (metrics != null) {
                nbd.bindMetrics(metrics.registry());
            }
            server = new DeviceServer(sockets, metrics == null ? null : metrics.registry());
            server.configured(config);
            server.useBlockExports(nbd);
            server.enableHotPlug(command.vfioUserSockets().get(0));
            server.onQuit(stopped::countDown);
            MachineAssembly.assemble(config.devices(), server);
            for (int i = 0; i < config.devices().size(); i++) {
                err.println("jvmm: serving " + config.devices().get(i).driver() + " " + ids.get(i) + " over vfio-user on "
                        + server.servers().get(i).socketPath());
            }
            monitors = QmpServers.start(qmp, server);
        } catch (UserError e) {
            stop(server, monitors, metrics);
            stopNbd(nbd);
            err.println("jvmm: " + e.getMessage());
            return ExitStatus.USER_ERROR;
        } catch (RuntimeException e) {
            stop(server, monitors, metrics);
            stopNbd(nbd);
            err.println("jvmm: cannot serve the devices: " + e.getMessage());
            return ExitStatus.HOST_ERROR;
        }
        DeviceServer running = server;
        QmpServers runningMonitors = monitors;
        JvmmMetrics runningMetrics = metrics;
        io.jvmm.devices.nbd.NbdExports exports = nbd;
        Thread hook = new Thread(() -> {
            log.info("stopping the vfio-user servers");
            stop(running, runningMonitors, runningMetrics);
            stopNbd(exports);
            stopped.countDown();
        }, "vfio-user-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            stopped.await();
            if (running.runState() == io.jvmm.monitor.RunState.SHUTDOWN) {   // QMP quit: stop here, not in the hook
                Runtime.getRuntime().removeShutdownHook(hook);
                stop(running, runningMonitors, runningMetrics);
                stopNbd(exports);
            }
        } catch (InterruptedException e) {
            // Told to stop by the thread that runs us (a test, an embedding program): stop with
            // the interrupt cleared, so the servers' and devices' joins really wait, then restore it.
            Runtime.getRuntime().removeShutdownHook(hook);
            stop(running, runningMonitors, runningMetrics);
            stopNbd(exports);
            Thread.currentThread().interrupt();
        }
        return ExitStatus.OK;
    }

    /**
     * The socket of each device: the i-th socket serves the i-th device; a single socket given for
     * several devices serves the first, and the others get {@code PATH-<device id>}.
     */
    static Map<String, Path> socketsFor(List<Path> given, List<String> deviceIds) {
        Map<String, Path> sockets = new LinkedHashMap<>();
        if (given.size() == deviceIds.size()) {
            for (int i = 0; i < given.size(); i++) {
                sockets.put(deviceIds.get(i), given.get(i));
            }
            return sockets;
        }
        if (given.size() == 1) {
            sockets.put(deviceIds.get(0), given.get(0));
            for (int i = 1; i < deviceIds.size(); i++) {
                sockets.put(deviceIds.get(i), given.get(0).resolveSibling(given.get(0).getFileName() + "-" + deviceIds.get(i)));
            }
            return sockets;
        }
        throw new UserError("--vfio-user-socket is given " + given.size() + " times for " + deviceIds.size()
                + " devices: give one socket per device, or a single one");
    }

    private static void stopNbd(io.jvmm.devices.nbd.NbdExports nbd) {
        if (nbd != null) {
            nbd.close();
        }
    }

    private static void stop(DeviceServer server, QmpServers monitors, JvmmMetrics metrics) {
        if (monitors != null) {
            monitors.close();
        }
        if (server != null) {
            server.close();
        }
        if (metrics != null) {
            metrics.close();
        }
    }
}
