package io.jvmm.testkit.junit;

import io.jvmm.pci.PciDevice;
import io.jvmm.pci.msix.Msix;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.TestMachineBuilder;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.fs.FsProtocol;
import io.jvmm.testkit.driver.fs.FuseClient;
import io.jvmm.testkit.driver.fs.VirtioFsDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.virtio.DeviceStatus;
import io.jvmm.virtio.pci.VirtioPciDevice;
import io.jvmm.platform.options.Sizes;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One machine of the extension with everything around it: its private work directory, the
 * back-end processes started for it, the guest and the drivers handed to the test (one of each
 * per device, probed and initialised when first asked for), and the log lines captured while it
 * lives. A test can take it as a parameter to reach all of these.
 */
public final class JvmmFixture implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(JvmmFixture.class);
    private static final Pattern PLACEHOLDER = Pattern.compile(
            "\\{(workdir|dir:[A-Za-z0-9_.-]+|socket:[A-Za-z0-9_.-]+|image:[A-Za-z0-9_.-]+:[0-9]+[KMG]?)}");
    /** Set to true to keep the work directories (back-end output, sockets) after the tests. */
    public static final String KEEP_PROPERTY = "jvmm.junit.keep";

    private final MachineSpec spec;
    private final Path workDir;
    private final LogCapture logs;
    private final Map<String, BackendProcess> backends = new LinkedHashMap<>();
    private final Map<String, Object> drivers = new LinkedHashMap<>();
    private TestMachine machine;
    private Guest guest;
    private List<PciFunction> functions;

    private JvmmFixture(MachineSpec spec) {
        this.spec = spec;
        this.logs = new LogCapture(spec.logLines());
        try {
            this.workDir = Files.createTempDirectory("jvmm-", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (IOException e) {
            logs.close();
            throw new UncheckedIOException("cannot create the machine's work directory", e);
        }
    }

    /** Starts the back-ends, then builds the machine; on failure nothing is left running. */
    static JvmmFixture start(MachineSpec spec) {
        JvmmFixture f = new JvmmFixture(spec);
        try {
            for (MachineSpec.BackendSpec b : spec.backends()) {
                List<String> command = b.command().stream().map(f::expand).toList();
                f.backends.put(b.name(), BackendProcess.start(b.name(), command, f.socket(b.name()),
                        f.workDir.resolve(b.name() + ".log"), b.awaitSocket(), spec.backendTimeout()));
            }
            TestMachineBuilder builder = TestMachine.builder();
            if (!spec.memory().isEmpty()) {
                builder.memory(spec.memory());
            }
            List<String> options = spec.options();
            for (int i = 0; i < options.size(); i += 2) {
                builder.option(options.get(i), f.expand(options.get(i + 1)));
            }
            f.machine = builder.build();
            return f;
        } catch (RuntimeException e) {
            String backendsSaid = f.backends.values().stream().map(b -> "\n" + b.describe() + ":\n" + b.outputTail(20))
                    .reduce("", String::concat);
            f.close();
            if (backendsSaid.isEmpty()) {
                throw e;
            }
            throw new IllegalStateException(e.getMessage() + "\nback-ends:" + backendsSaid, e);
        }
    }

    /**
     * Replaces {@code {workdir}}, {@code {dir:NAME}} (created), {@code {image:NAME:SIZE}} (a raw
     * image of SIZE bytes, K/M/G suffixes, zero-filled and sparse, created once) and
     * {@code {socket:NAME}} in {@code text}.
     */
    public String expand(String text) {
        Matcher m = PLACEHOLDER.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String key = m.group(1);
            Path value = key.equals("workdir") ? workDir
                    : key.startsWith("dir:") ? dir(key.substring(4))
                    : key.startsWith("image:") ? image(key.substring(6))
                    : socketOfDeclared(key.substring(7));
            m.appendReplacement(out, Matcher.quoteReplacement(value.toString()));
        }
        m.appendTail(out);
        return out.toString();
    }

    private Path image(String nameAndSize) {
        int colon = nameAndSize.lastIndexOf(':');
        Path file = workDir.resolve(nameAndSize.substring(0, colon));
        long size = Sizes.parse("{image:" + nameAndSize + "}", nameAndSize.substring(colon + 1), 1);
        if (!Files.exists(file)) {
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                f.setLength(size);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create the image " + file, e);
            }
        }
        return file;
    }

    private Path socketOfDeclared(String name) {
        if (spec.backends().stream().noneMatch(b -> b.name().equals(name))) {
            throw new IllegalArgumentException("{socket:" + name + "}: no back-end named '" + name + "' (declared: "
                    + spec.backends().stream().map(MachineSpec.BackendSpec::name).toList() + ")");
        }
        return socket(name);
    }

    public TestMachine machine() {
        return machine;
    }

    /** The machine's private directory (0700), removed when it closes unless {@value #KEEP_PROPERTY} is true. */
    public Path workDir() {
        return workDir;
    }

    /** {@code {dir:NAME}}: a directory of the work directory, created if needed. */
    public Path dir(String name) {
        Path d = workDir.resolve(name);
        try {
            return Files.createDirectories(d);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + d, e);
        }
    }

    /** {@code {socket:NAME}}: where back-end NAME's socket is. */
    public Path socket(String name) {
        return workDir.resolve(name + ".sock");
    }

    /** The back-end started under {@code name}. */
    public BackendProcess backend(String name) {
        BackendProcess b = backends.get(name);
        if (b == null) {
            throw new IllegalArgumentException("no back-end named '" + name + "' (started: " + backends.keySet() + ")");
        }
        return b;
    }

    public List<BackendProcess> backends() {
        return List.copyOf(backends.values());
    }

    /** The guest of the machine (one per machine, so drivers share its page and BAR allocators). */
    public synchronized Guest guest() {
        if (guest == null) {
            guest = Guest.of(machine);
        }
        return guest;
    }

    /** virtio-blk's driver, initialised: for device {@code id}, or the first one when null. */
    public VirtioBlkDriver blk(String id) {
        return driver(VirtioBlkDriver.class, 2, id, pci -> new VirtioBlkDriver(pci).initialize());
    }

    /** virtio-rng's driver, initialised. */
    public VirtioRngDriver rng(String id) {
        return driver(VirtioRngDriver.class, VirtioRngDriver.DEVICE_TYPE, id, pci -> new VirtioRngDriver(pci).initialize());
    }

    /** virtio-fs's driver, initialised (the queues set up, DRIVER_OK). */
    public VirtioFsDriver fs(String id) {
        return driver(VirtioFsDriver.class, FsProtocol.DEVICE_TYPE, id, pci -> new VirtioFsDriver(pci).initialize());
    }

    /** A FUSE client on virtio-fs's driver, its session open (FUSE_INIT answered). */
    public FuseClient fuse(String id) {
        VirtioFsDriver fs = fs(id);
        synchronized (this) {
            String key = "FuseClient/" + fs.device().function().address();
            Object client = drivers.get(key);
            if (client == null) {
                FuseClient c = new FuseClient(fs);
                c.init();
                drivers.put(key, c);
                client = c;
            }
            return (FuseClient) client;
        }
    }

    /**
     * The virtio-pci function of device {@code id} (or the first virtio function), probed but not
     * initialised; one per device, so asking twice gives the same driver.
     */
    public synchronized VirtioPciDriver virtio(String id) {
        PciFunction fn;
        if (id == null) {
            fn = functions().stream().filter(VirtioPciDriver::isVirtio).findFirst().orElseThrow(() ->
                    new IllegalArgumentException("no virtio device in this machine (its devices: " + deviceList() + ")"));
        } else {
            fn = functionOf(id);
            if (!VirtioPciDriver.isVirtio(fn)) {
                throw new IllegalArgumentException("device '" + id + "' is not a virtio device: " + fn);
            }
        }
        return probed(fn);
    }

    /** The one probed driver of {@code fn}: device drivers and {@link #virtio} share it. */
    private VirtioPciDriver probed(PciFunction fn) {
        String key = "VirtioPciDriver/" + fn.address();
        Object d = drivers.get(key);
        if (d == null) {
            d = VirtioPciDriver.probe(guest(), fn);
            drivers.put(key, d);
        }
        return (VirtioPciDriver) d;
    }

    private List<PciFunction> functions() {
        if (functions == null) {
            functions = guest().enumerate();
        }
        return functions;
    }

    private PciFunction functionOf(String id) {
        PciDevice device = machine.pciDevice(id);
        return functions().stream().filter(f -> f.address().slot() == device.slot() && f.address().function() == 0)
                .findFirst().orElseThrow(() -> new IllegalStateException(id + " is at slot " + device.slot()
                        + " but the guest did not find it: " + functions));
    }

    private synchronized <T> T driver(Class<T> type, int deviceType, String id, Function<VirtioPciDriver, T> make) {
        PciFunction fn = function(deviceType, id);
        String key = type.getSimpleName() + "/" + fn.address();
        Object d = drivers.get(key);
        if (d == null) {
            d = make.apply(probed(fn));
            drivers.put(key, d);
        }
        return type.cast(d);
    }

    private PciFunction function(int deviceType, String id) {
        int deviceId = VirtioPciDriver.MODERN_DEVICE_ID_BASE + deviceType;
        if (id == null) {
            return functions().stream().filter(f -> VirtioPciDriver.isVirtio(f) && f.deviceId() == deviceId).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no virtio device of type " + deviceType
                            + " in this machine (its devices: " + deviceList() + ")"));
        }
        PciFunction fn = functionOf(id);
        if (fn.deviceId() != deviceId) {
            throw new IllegalArgumentException("device '" + id + "' is not of virtio type " + deviceType + " (PCI device id 0x"
                    + Integer.toHexString(fn.deviceId()) + ")");
        }
        return fn;
    }

    private List<String> deviceList() {
        return machine.devices().stream().map(BuiltDevice::id).toList();
    }

    /** The machine's devices as the report shows them: status, faults, MSI-X, one device a line. */
    public List<String> deviceStates() {
        List<String> out = new ArrayList<>();
        if (machine == null) {
            return out;
        }
        for (BuiltDevice d : machine.devices()) {
            StringBuilder line = new StringBuilder(d.id());
            if (d instanceof BuiltDevice.Pci pci) {
                PciDevice device = pci.device();
                line.append(" (slot ").append(device.slot());
                if (device instanceof VirtioPciDevice v) {
                    int status = v.status();
                    line.append(", ").append(v.identity().typeName()).append("): status 0x").append(Integer.toHexString(status))
                            .append(' ').append(DeviceStatus.describe(status));
                    if ((status & DeviceStatus.DEVICE_NEEDS_RESET) != 0) {
                        line.append(" [DEVICE_NEEDS_RESET]");
                    }
                    String fault = v.lastFault();
                    line.append("; last fault: ").append(fault == null ? "none" : fault);
                    Msix msix = v.msix();
                    line.append("; MSI-X ").append(msix.isEnabled() ? "enabled" : "disabled")
                            .append(msix.isFunctionMasked() ? ", function masked" : "").append(", ").append(msix.counters());
                } else {
                    line.append(", ").append(device.getClass().getSimpleName()).append(')');
                }
            } else {
                line.append(" (").append(d.getClass().getSimpleName()).append(')');
            }
            out.add(line.toString());
        }
        return out;
    }

    /** The report a failure carries: devices, back-ends with their output, recent log lines. */
    String report() {
        StringBuilder r = new StringBuilder("the jvmm machine when the test failed\n");
        r.append("devices:\n");
        List<String> devices = deviceStates();
        if (devices.isEmpty()) {
            r.append("  (none)\n");
        }
        devices.forEach(d -> r.append("  ").append(d).append('\n'));
        if (!backends.isEmpty()) {
            r.append("back-ends:\n");
            for (BackendProcess b : backends.values()) {
                r.append("  ").append(b.describe()).append(": ").append(String.join(" ", b.command())).append('\n');
                String tail = b.outputTail(20);
                if (!tail.isBlank()) {
                    tail.lines().forEach(l -> r.append("    | ").append(l).append('\n'));
                }
            }
        }
        List<String> lines = logs.recent();
        r.append("log (last ").append(spec.logLines()).append(" lines at most):\n");
        if (lines.isEmpty()) {
            r.append("  (nothing logged)\n");
        }
        lines.forEach(l -> r.append("  ").append(l).append('\n'));
        return r.toString();
    }

    /** Closes the machine, then ends the back-ends, then removes the work directory. */
    @Override
    public void close() {
        if (machine != null) {
            try {
                machine.close();
            } catch (RuntimeException e) {
                log.warn("closing the test machine: {}", e.toString());
            }
        }
        for (BackendProcess b : backends.values()) {
            b.close();
        }
        logs.close();
        if (!Boolean.getBoolean(KEEP_PROPERTY)) {
            deleteTree(workDir);
        } else {
            log.info("kept the machine's work directory {}", workDir);
        }
    }

    private static void deleteTree(Path root) {
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
                    Files.deleteIfExists(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            log.warn("cannot remove the machine's work directory {}: {}", root, e.toString());
        }
    }
}
