package io.jvmm.virtio.vhost.backend;

import io.jvmm.chardev.UnixServerSocket;
import io.jvmm.chardev.UnixSocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Java back-end as a separate process (vhost-user.rst "Backend program conventions"):
 * serves a {@link FillingDevice} on one connection and exits when it ends.
 *
 * <pre>
 * VhostUserBackendMain --socket-path=PATH [--client] [--queues=N] [--name=NAME]
 *                      [--faults=SPEC] [--connect-timeout-ms=MS] [--hold-length=N]
 * </pre>
 *
 * By default it listens on PATH (as virtiofsd does); with {@code --client} it connects to a
 * front-end listening there. SPEC is {@link BackendFaults#parse}'s syntax; N: requests with exactly N
 * device-writable bytes are taken and never returned ({@link FillingDevice}). Exit status 0 when
 * the connection ended, 2 for bad arguments, 1 when serving could not start.
 */
public final class VhostUserBackendMain {
    private static final Logger log = LoggerFactory.getLogger(VhostUserBackendMain.class);

    private VhostUserBackendMain() {
    }

    public static void main(String[] args) {
        Path socket = null;
        boolean client = false;
        int queues = 1;
        String name = "java-backend";
        BackendFaults faults = BackendFaults.NONE;
        Duration connectTimeout = Duration.ofSeconds(10);
        int holdLength = 0;
        try {
            for (String a : args) {
                if (a.equals("--client")) {
                    client = true;
                } else if (a.startsWith("--socket-path=")) {
                    socket = Path.of(value(a));
                } else if (a.startsWith("--queues=")) {
                    queues = Integer.parseInt(value(a));
                } else if (a.startsWith("--name=")) {
                    name = value(a);
                } else if (a.startsWith("--faults=")) {
                    faults = BackendFaults.parse(value(a));
                } else if (a.startsWith("--hold-length=")) {
                    holdLength = Integer.parseInt(value(a));
                } else if (a.startsWith("--connect-timeout-ms=")) {
                    connectTimeout = Duration.ofMillis(Long.parseLong(value(a)));
                } else {
                    throw new IllegalArgumentException("unknown argument " + a);
                }
            }
            if (socket == null) {
                throw new IllegalArgumentException("--socket-path=PATH is required");
            }
        } catch (IllegalArgumentException e) {
            log.error("vhost-user back-end: {}", e.getMessage());
            System.exit(2);
            return;
        }
        try (VhostUserBackend backend = new VhostUserBackend(name, new FillingDevice(queues, new byte[] {0, 1, 2, 3, 4, 5, 6, 7}, holdLength), faults)) {
            UnixSocketChannel connection;
            if (client) {
                connection = VhostUserBackend.connectWithRetry(socket, connectTimeout);
                log.info("{}: connected to {} (faults: {})", name, socket, faults.format());
            } else {
                try (UnixServerSocket server = UnixServerSocket.listen(socket)) {
                    log.info("{}: listening on {} (faults: {})", name, socket, faults.format());
                    connection = server.accept();
                }
            }
            backend.serve(connection);
            log.info("{}: done: {}", name, backend.endReason());
            log.info("{}: session stats: {}", name, backend.statsLine());
        } catch (RuntimeException e) {
            log.error("{}: {}", name, e.toString(), e);
            System.exit(1);
        }
        System.exit(0);
    }

    private static String value(String arg) {
        return arg.substring(arg.indexOf('=') + 1);
    }
}
