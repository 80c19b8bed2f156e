package io.jvmm.virtio;

import java.util.Objects;

/**
 * What a virtio device is, in one place.
 *
 * @param id           the user's id (the -device id or a generated one): named in every log line
 * @param deviceType   virtio device type (2 = block, 4 = entropy, 9 = 9P, 26 = file system, ...)
 * @param typeName     human name of the type, e.g. "virtio-blk"
 * @param pciClassCode 24-bit PCI class code (base class, subclass, programming interface)
 */
public record VirtioIdentity(String id, int deviceType, String typeName, int pciClassCode) {
    public VirtioIdentity {
        if (id == null || id.isBlank()) {
            throw new IllegalArgumentException("a virtio device needs an id");
        }
        Objects.requireNonNull(typeName, "typeName");
        if (deviceType <= 0 || deviceType > 0xffff - 0x1040) {
            throw new IllegalArgumentException(id + ": virtio device type " + deviceType + " is out of range");
        }
    }
}
