package io.jvmm.devices.ivshmem.server;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.platform.options.Sizes;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * {@code jvmm-ivshmem-server --socket PATH (--shm NAME | --memfd) --size SIZE --vectors N [--max-clients N]}:
 * an ivshmem server speaking QEMU's protocol, until it is stopped (SIGTERM, SIGINT). Prints
 * "listening on PATH" on standard output once clients can connect.
 */
public final class IvshmemServerMain {
    private static final String USAGE = "usage: jvmm-ivshmem-server --socket PATH (--shm NAME | --memfd) --size SIZE --vectors N "
            + "[--max-clients N]\n"
            + "  --socket PATH     the Unix socket clients connect to (created owner-only)\n"
            + "  --shm NAME        share /dev/shm/NAME (created if missing), as QEMU's ivshmem-server -M\n"
            + "  --memfd           share an anonymous memfd, as QEMU's ivshmem-server -m with -F\n"
            + "  --size SIZE       the shared memory's size, a power of two (K, M, G suffixes), default 4M\n"
            + "  --vectors N       eventfds per client (MSI-X vectors), default 1\n"
            + "  --max-clients N   clients served at once, default " + IvshmemServer.DEFAULT_MAX_CLIENTS;

    private IvshmemServerMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        String socket = null;
        String shm = null;
        boolean memfd = false;
        long size = 4L << 20;
        int vectors = 1;
        int maxClients = IvshmemServer.DEFAULT_MAX_CLIENTS;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--socket" -> socket = value(args, ++i);
                    case "--shm" -> shm = value(args, ++i);
                    case "--memfd" -> memfd = true;
                    case "--size" -> size = Sizes.parse("--size", value(args, ++i), 1);
                    case "--vectors" -> vectors = Integer.parseInt(value(args, ++i));
                    case "--max-clients" -> maxClients = Integer.parseInt(value(args, ++i));
                    case "-h", "--help" -> {
                        System.out.println(USAGE);
                        return;
                    }
                    default -> throw new IllegalArgumentException("unknown option " + args[i]);
                }
            }
            if (socket == null || (shm == null) == !memfd) {
                throw new IllegalArgumentException("--socket and exactly one of --shm and --memfd are required");
            }
            if (size < 4096 || Long.bitCount(size) != 1) {
                throw new IllegalArgumentException("--size " + size + " is not a power of two of at least 4 KiB");
            }
        } catch (RuntimeException e) {
            System.err.println("jvmm-ivshmem-server: " + e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        SharedMemory memory;
        IvshmemServer server;
        try {
            memory = memfd ? SharedMemory.create("ivshmem", size) : IvshmemServer.openShm(shm, size);
            server = IvshmemServer.start(Path.of(socket), memory, true, vectors, maxClients, null);
        } catch (RuntimeException e) {
            System.err.println("jvmm-ivshmem-server: " + e.getMessage());
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "ivshmem-server-stop"));
        System.out.println("listening on " + socket);
        System.out.flush();
        stopped.await();
    }

    private static String value(String[] args, int i) {
        if (i >= args.length) {
            throw new IllegalArgumentException(args[i - 1] + " needs a value");
        }
        return args[i];
    }
}
