package io.jvmm.tests.platform;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.ivshmem.server.IvshmemServer;
import io.jvmm.emulator.machine.KvmMachine;
import io.jvmm.emulator.vfiouser.DeviceServer;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.assembly.MachineAssembly;
import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.DeviceType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.Registry;
import io.jvmm.testkit.TestMachine;
import io.jvmm.tests.kvm.KvmAvailable;
import io.jvmm.tests.kvm.KvmConfig;
import io.jvmm.tests.kvm.TestGuest;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.backend.VhostUserBackend;
import java.io.ByteArrayOutputStream;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every device type on the class path, through the registry: it has help, it refuses an unknown
 * property with one line naming it, and it builds through the one assembly path in each of the
 * three machines (no CPU, vfio-user server, KVM where there is one).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class RegistryTest {
    @TempDir
    Path dir;

    /** How to build one of a device type: its -device text and what it needs besides. */
    private record Sample(String device, boolean needsVhostUserBackend, boolean pci, boolean needsIvshmemServer) {
        Sample(String device, boolean needsVhostUserBackend, boolean pci) {
            this(device, needsVhostUserBackend, pci, false);
        }
    }

    private static final Map<String, Sample> SAMPLES = Map.ofEntries(
            Map.entry("ivshmem-plain", new Sample("ivshmem-plain,id=dev0,memdev=m0", false, true)),
            Map.entry("ivshmem-doorbell", new Sample("ivshmem-doorbell,id=dev0,chardev=c0,vectors=2", false, true, true)),
            Map.entry("jvmm-testdev", new Sample("jvmm-testdev,id=dev0,size=64K", false, true)),
            Map.entry("virtio-blk-pci", new Sample("virtio-blk-pci,id=dev0,drive=d0,serial=reg", false, true)),
            Map.entry("virtio-rng-pci", new Sample("virtio-rng-pci,id=dev0", false, true)),
            Map.entry("vhost-user-fs-pci", new Sample("vhost-user-fs-pci,id=dev0,chardev=c0,tag=reg", true, true)),
            Map.entry("vhost-user-rng-pci", new Sample("vhost-user-rng-pci,id=dev0,chardev=c0", true, true)),
            Map.entry("isa-debug-exit", new Sample("isa-debug-exit,id=dev0,iobase=0x501,iosize=2", false, false)),
            Map.entry("virtio-9p-pci", new Sample("virtio-9p-pci,id=dev0,fsdev=fs0,mount_tag=reg", false, true)));

    static Stream<String> drivers() {
        return Registry.load().devices().stream().map(DeviceType::driver);
    }

    @Test
    void everyRegisteredDeviceHasASampleHere() {
        List<String> missing = drivers().filter(d -> !SAMPLES.containsKey(d)).toList();
        assertEquals(List.of(), missing, "add a sample for each new device type, so it is built in every machine here");
        assertTrue(drivers().count() >= SAMPLES.size(), "every sample names a registered device: " + drivers().toList());
    }

    @ParameterizedTest
    @MethodSource("drivers")
    void hasHelpThatListsEveryProperty(String driver) {
        Registry registry = Registry.load();
        DeviceType<?> type = registry.device(driver).orElseThrow();
        assertFalse(type.description().isBlank(), driver + " describes itself");
        assertTrue(registry.deviceHelp().contains("name \"" + driver + "\", bus " + type.bus()), registry.deviceHelp());
        String help = registry.deviceHelp(type);
        assertTrue(help.startsWith(driver + " options:\n"), help);
        for (Property<?> p : type.properties()) {
            assertTrue(help.contains("  " + p.name() + "=<"), driver + " help lists " + p.name() + ":\n" + help);
            assertFalse(p.help().isBlank(), driver + "." + p.name() + " has a line of help");
        }
    }

    @ParameterizedTest
    @MethodSource("drivers")
    void refusesAnUnknownPropertyWithOneLineNamingIt(String driver) throws Exception {
        UserError e = assertThrows(UserError.class, () -> parse(SAMPLES.get(driver).device() + ",no-such-thing=1"));
        assertTrue(e.getMessage().contains("unknown property 'no-such-thing'"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }

    @ParameterizedTest
    @MethodSource("drivers")
    void buildsInTheNoCpuMachine(String driver) throws Exception {
        withBackend(driver, () -> {
            MachineConfig config = parse(SAMPLES.get(driver).device());
            try (TestMachine machine = new TestMachine(64L << 20)) {
                List<BuiltDevice> built = MachineAssembly.assemble(config.devices(), machine);
                assertEquals("dev0", built.get(0).id());
                assertEquals(SAMPLES.get(driver).pci(), built.get(0) instanceof BuiltDevice.Pci);
                if (built.get(0) instanceof BuiltDevice.Pci pci) {
                    assertTrue(pci.device().slot() > 0, "plugged into the bus");
                }
            }
        });
    }

    @ParameterizedTest
    @MethodSource("drivers")
    void buildsInTheVfioUserServer(String driver) throws Exception {
        withBackend(driver, () -> {
            MachineConfig config = parse(SAMPLES.get(driver).device());
            Path socket = dir.resolve(driver + ".sock");
            try (DeviceServer server = new DeviceServer(Map.of("dev0", socket), null)) {
                if (SAMPLES.get(driver).pci()) {
                    MachineAssembly.assemble(config.devices(), server);
                    assertTrue(Files.exists(socket), "served on " + socket);
                    assertEquals("dev0", server.devices().get(0).id());
                } else {
                    UserError e = assertThrows(UserError.class, () -> MachineAssembly.assemble(config.devices(), server));
                    assertTrue(e.getMessage().contains("is not a PCI device"), e.getMessage());
                }
            }
        });
    }

    @ParameterizedTest
    @MethodSource("drivers")
    void buildsUnderKvm(String driver) throws Exception {
        KvmAvailable.assume();
        withBackend(driver, () -> {
            String device = SAMPLES.get(driver).device();
            MachineConfig config = device.contains("fsdev=")
                    ? KvmConfig.parse("64", "1", TestGuest.elf(), null, "", true, Map.of(BackendKind.FSDEV, fsdevOptions(device)),
                            List.of(device))
                    : KvmConfig.parse("64", "1", TestGuest.elf(), null, "", true, objectOptions(device),
                    backendOptions(BackendKind.CHARDEV), device.contains("drive=") ? backendOptions(BackendKind.DRIVE) : List.of(),
                    List.of(device));
            try (KvmMachine machine = KvmMachine.create(config, new ByteArrayOutputStream())) {
                assertEquals("dev0", machine.devices().get(0).id());
            }
        });
    }

    // ---- helpers -----------------------------------------------------------------------------

    private interface Work {
        void run() throws Exception;
    }

    /** Runs {@code work} with a vhost-user back-end listening when the device needs one. */
    private void withBackend(String driver, Work work) throws Exception {
        if (SAMPLES.get(driver).needsIvshmemServer()) {
            try (IvshmemServer server = IvshmemServer.start(dir.resolve("backend.sock"), SharedMemory.create("registry", 64 << 10), true,
                    2, IvshmemServer.DEFAULT_MAX_CLIENTS, null)) {
                work.run();
            }
            return;
        }
        if (!SAMPLES.get(driver).needsVhostUserBackend()) {
            work.run();
            return;
        }
        try (VhostUserBackend backend = VhostUserBackend.startServer(dir.resolve("backend.sock"), "registry",
                new FillingDevice(2, new byte[0]), BackendFaults.NONE)) {
            work.run();
        }
    }

    private List<String> backendOptions(BackendKind kind) throws Exception {
        if (kind == BackendKind.DRIVE) {
            Path disk = dir.resolve("disk.img");
            if (!Files.exists(disk)) {
                try (RandomAccessFile f = new RandomAccessFile(disk.toFile(), "rw")) {
                    f.setLength(1 << 20);
                }
            }
            return List.of("file=" + disk + ",format=raw,if=none,id=d0");
        }
        return List.of("socket,id=c0,path=" + dir.resolve("backend.sock"));
    }

    /** The -object a sample that names memdev= needs. */
    private static List<String> objectOptions(String device) {
        return device.contains("memdev=m0") ? List.of("memory-backend-memfd,id=m0,size=64K,share=on") : List.of();
    }

    /** Parses one -device with the back-ends a sample may refer to (unused ones are dropped: -drive must be used). */
    private MachineConfig parse(String device) throws Exception {
        Map<BackendKind, List<String>> backends = new EnumMap<>(BackendKind.class);
        backends.put(BackendKind.CHARDEV, backendOptions(BackendKind.CHARDEV));
        backends.put(BackendKind.DRIVE, device.contains("drive=") ? backendOptions(BackendKind.DRIVE) : new ArrayList<>());
        backends.put(BackendKind.OBJECT, objectOptions(device));
        backends.put(BackendKind.FSDEV, fsdevOptions(device));
        return ConfigParser.parseDevicesOnly(Registry.load(), ConfigParser.RawOptions.devicesOnly(backends, List.of(device)));
    }

    /** The -fsdev a virtio-9p sample refers to (the test's directory), or none. */
    private List<String> fsdevOptions(String device) {
        return device.contains("fsdev=") ? List.of("local,id=fs0,path=" + dir + ",security_model=none") : new ArrayList<>();
    }
}
