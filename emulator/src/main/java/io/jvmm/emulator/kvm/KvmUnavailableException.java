package io.jvmm.emulator.kvm;

import java.nio.file.Path;
import java.util.Collection;
import java.util.stream.Collectors;
import jnr.constants.platform.Errno;

/**
 * KVM cannot be used on this host. The message alone tells a user what is wrong and what to do
 * (missing device, permission, API version, missing capabilities), so callers can print it as
 * the one line of a failed start.
 */
public final class KvmUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public KvmUnavailableException(String message) {
        super(message);
    }

    /** The message for a failed {@code open(path)} with the given errno. */
    static KvmUnavailableException openFailed(Path path, int errno) {
        Errno e = Errno.valueOf(errno);
        if (e == Errno.ENOENT) {
            return new KvmUnavailableException(path + " does not exist: this host has no KVM (load kvm_intel or "
                    + "kvm_amd, or enable nested virtualization for this VM)");
        }
        if (e == Errno.EACCES || e == Errno.EPERM) {
            return new KvmUnavailableException("permission denied opening " + path
                    + ": add the user to group kvm (then log in again) or run as root");
        }
        if (e == Errno.ENXIO || e == Errno.ENODEV) {
            return new KvmUnavailableException(path + " exists but no KVM driver answers it ("
                    + e.name() + "): load kvm_intel or kvm_amd");
        }
        return new KvmUnavailableException("cannot open " + path + ": " + describe(errno));
    }

    /** {@code path} opened but does not speak the KVM API (e.g. /dev/null, or a stale node). */
    static KvmUnavailableException notKvm(Path path, int errno) {
        return new KvmUnavailableException(path + " is not a KVM device: KVM_GET_API_VERSION failed with "
                + describe(errno));
    }

    static KvmUnavailableException wrongApiVersion(Path path, int version) {
        return new KvmUnavailableException(path + " reports KVM API version " + version + ", jvmm needs version "
                + KvmIoctl.API_VERSION);
    }

    static KvmUnavailableException missingCapabilities(Path path, Collection<KvmCapability> missing) {
        String names = missing.stream().map(KvmCapability::kernelName).sorted().collect(Collectors.joining(", "));
        return new KvmUnavailableException("the KVM of " + path + " lacks " + (missing.size() == 1 ? "a " : "")
                + "required capabilit" + (missing.size() == 1 ? "y" : "ies") + ": " + names);
    }

    private static String describe(int errno) {
        Errno e = Errno.valueOf(errno);
        return e == Errno.__UNKNOWN_CONSTANT__ ? "errno " + errno : e.name() + " (" + e.description() + ")";
    }
}
