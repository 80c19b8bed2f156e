package io.jvmm.emulator.kvm;

import static io.jvmm.chardev.nativ.LinuxConstants.O_CLOEXEC;
import static io.jvmm.chardev.nativ.LinuxConstants.O_RDWR;

import io.jvmm.chardev.Fds;
import io.jvmm.chardev.NativeException;
import io.jvmm.chardev.nativ.LibC;
import io.jvmm.chardev.nativ.Native;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An open {@code /dev/kvm}: checked at open time for API version 12 and every capability in
 * {@link KvmCapability#REQUIRED}, so that a host that cannot run jvmm fails at once with one
 * clear {@link KvmUnavailableException} rather than at some later ioctl.
 *
 * <p>Closing it does not affect VMs created from it (the kernel keeps its own references).
 */
public final class Kvm implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Kvm.class);
    private static final LibC LIBC = Native.libc();

    public static final Path DEFAULT_DEVICE = Path.of("/dev/kvm");
    private static final Path PVM_MODULE = Path.of("/sys/module/kvm_pvm");
    /** KVM_MAX_CPUID_ENTRIES is 256; allow for kernels that raise it. */
    private static final int MAX_CPUID_ENTRIES = 4096;

    private final Path path;
    private final int fd;
    private final int apiVersion;
    private final int vcpuMmapSize;
    private volatile boolean closed;

    private Kvm(Path path, int fd, int apiVersion, int vcpuMmapSize) {
        this.path = path;
        this.fd = fd;
        this.apiVersion = apiVersion;
        this.vcpuMmapSize = vcpuMmapSize;
    }

    /** Opens {@code /dev/kvm}. */
    public static Kvm open() {
        return open(DEFAULT_DEVICE);
    }

    /**
     * Opens a KVM device node and checks it.
     *
     * @throws KvmUnavailableException naming what is wrong: missing device, permission, not a KVM
     *         device, API version, or the missing capabilities
     */
    public static Kvm open(Path device) {
        int fd = LIBC.open(device.toString(), O_RDWR | O_CLOEXEC, 0);
        if (fd < 0) {
            throw KvmUnavailableException.openFailed(device, Native.errno());
        }
        try {
            int version = LIBC.ioctl(fd, KvmIoctl.GET_API_VERSION, 0L);
            if (version < 0) {
                throw KvmUnavailableException.notKvm(device, Native.errno());
            }
            if (version != KvmIoctl.API_VERSION) {
                throw KvmUnavailableException.wrongApiVersion(device, version);
            }
            Set<KvmCapability> missing = missingCapabilities(fd);
            if (!missing.isEmpty()) {
                throw KvmUnavailableException.missingCapabilities(device, missing);
            }
            int mmapSize = Native.check(LIBC.ioctl(fd, KvmIoctl.GET_VCPU_MMAP_SIZE, 0L),
                    "KVM_GET_VCPU_MMAP_SIZE(" + device + ")");
            Kvm kvm = new Kvm(device, fd, version, mmapSize);
            log.debug("opened {}: API {}, vCPU mmap size {}{}", device, version, mmapSize,
                    isPvmHost() ? ", PVM host" : "");
            return kvm;
        } catch (RuntimeException e) {
            Fds.closeQuietly(fd);
            throw e;
        }
    }

    private static volatile String unusableReason;
    private static volatile boolean probed;

    /**
     * Why KVM cannot run a VM on this host, or null if it can: {@code /dev/kvm} opened, checked
     * (API version, capabilities) and a VM created and destroyed. Machines of this kind vary: some
     * have no /dev/kvm, some have one that fails. Probed once per process.
     */
    public static String unusableReason() {
        if (!probed) {
            synchronized (Kvm.class) {
                if (!probed) {
                    unusableReason = probe();
                    probed = true;
                }
            }
        }
        return unusableReason;
    }

    private static String probe() {
        if (!Files.exists(DEFAULT_DEVICE)) {
            return DEFAULT_DEVICE + " does not exist on this machine";
        }
        try (Kvm kvm = open(DEFAULT_DEVICE); KvmVm vm = kvm.createVm()) {
            return null;
        } catch (RuntimeException e) {
            return DEFAULT_DEVICE + " is not usable: " + e.getMessage();
        }
    }

    /**
     * Whether this host's KVM is the PVM flavour (module kvm_pvm): the KVM API is complete, but
     * guest ring-0 code is emulated and a stock Linux kernel cannot boot.
     */
    public static boolean isPvmHost() {
        return Files.exists(PVM_MODULE);
    }

    private static Set<KvmCapability> missingCapabilities(int fd) {
        Set<KvmCapability> missing = EnumSet.noneOf(KvmCapability.class);
        for (KvmCapability cap : KvmCapability.REQUIRED) {
            if (LIBC.ioctl(fd, KvmIoctl.CHECK_EXTENSION, (long) cap.number()) <= 0) {
                missing.add(cap);
            }
        }
        return missing;
    }

    public Path path() {
        return path;
    }

    public int apiVersion() {
        return apiVersion;
    }

    /** KVM_CHECK_EXTENSION on /dev/kvm: whether (non-zero) the capability is there. */
    public boolean hasCapability(int cap) {
        return capabilityValue(cap) > 0;
    }

    public boolean hasCapability(KvmCapability cap) {
        return hasCapability(cap.number());
    }

    /** KVM_CHECK_EXTENSION's answer: 0 if absent, else 1 or a number (e.g. KVM_CAP_MAX_VCPUS). */
    public int capabilityValue(int cap) {
        int rc = LIBC.ioctl(fd(), KvmIoctl.CHECK_EXTENSION, (long) cap);
        if (rc < 0) {
            throw Native.error("KVM_CHECK_EXTENSION(" + path + ", " + cap + ")");
        }
        return rc;
    }

    /** Size of each vCPU's kvm_run mapping. */
    int vcpuMmapSize() {
        return vcpuMmapSize;
    }

    /** KVM_GET_SUPPORTED_CPUID: every leaf KVM can expose to a guest on this host. */
    public List<CpuidEntry> supportedCpuid() {
        int capacity = 128;
        while (true) {
            NativeStruct s = new NativeStruct(8 + capacity * CpuidEntry.SIZE);
            s.buffer().putInt(0, capacity);
            int rc = LIBC.ioctl(fd(), KvmIoctl.GET_SUPPORTED_CPUID, s.address());
            int errno = rc < 0 ? Native.errno() : 0;
            s.keepAlive();
            if (rc < 0 && errno == Errno.E2BIG.intValue() && capacity < MAX_CPUID_ENTRIES) {
                capacity *= 2;
                continue;
            }
            if (rc < 0) {
                throw new NativeException("KVM_GET_SUPPORTED_CPUID(" + path + ", " + capacity + " entries)", errno);
            }
            ByteBuffer b = s.buffer();
            int n = b.getInt(0);
            if (n < 0 || n > capacity) {
                throw new IllegalStateException("KVM_GET_SUPPORTED_CPUID returned " + n + " entries for " + capacity);
            }
            List<CpuidEntry> entries = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                entries.add(CpuidEntry.decode(b, 8 + i * CpuidEntry.SIZE));
            }
            return List.copyOf(entries);
        }
    }

    /** KVM_CREATE_VM (default machine type). */
    public KvmVm createVm() {
        int vmFd = Native.check(LIBC.ioctl(fd(), KvmIoctl.CREATE_VM, 0L), "KVM_CREATE_VM(" + path + ")");
        return new KvmVm(this, vmFd);
    }

    private int fd() {
        if (closed) {
            throw new IllegalStateException(path + " is closed");
        }
        return fd;
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        Fds.close(fd);
    }

    @Override
    public String toString() {
        return "Kvm[" + path + (closed ? ", closed]" : "]");
    }
}
