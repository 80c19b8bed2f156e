package io.jvmm.virtio.vhost.frontend;

import io.jvmm.virtio.vhost.DeviceConfig;

/**
 * What distinguishes one vhost-user device type from another, as far as the front-end is
 * concerned (the back-end does the rest): its virtio identity, queues, which device feature bits
 * may pass from the back-end to the guest, and where its configuration space comes from.
 *
 * @param deviceType        virtio device type (26 = file system, 4 = entropy, ...)
 * @param typeName          e.g. "vhost-user-fs"
 * @param pciClassCode      24-bit PCI class code
 * @param queueCount        queues the device exposes
 * @param maxQueueSize      largest queue size (a power of two)
 * @param deviceFeatureMask device-specific feature bits the back-end may offer the guest
 * @param localConfig       configuration space kept by the front-end (read-only for the guest);
 *                          ignored when {@code backendConfigSize > 0}
 * @param backendConfigSize bytes of configuration space the back-end serves (GET/SET_CONFIG,
 *                          needs the CONFIG protocol feature), 0 for none
 * @param errorCompletion   the error reply for requests a dead back-end left in flight, or null
 *                          when the device type has none (they stay outstanding until a reset)
 */
public record VhostUserDeviceModel(int deviceType, String typeName, int pciClassCode, int queueCount, int maxQueueSize,
        long deviceFeatureMask, byte[] localConfig, int backendConfigSize, ErrorCompletion errorCompletion) {

    /** A model without an error completion. */
    public VhostUserDeviceModel(int deviceType, String typeName, int pciClassCode, int queueCount, int maxQueueSize,
                                long deviceFeatureMask, byte[] localConfig, int backendConfigSize) {
        this(deviceType, typeName, pciClassCode, queueCount, maxQueueSize, deviceFeatureMask, localConfig, backendConfigSize, null);
    }

    public VhostUserDeviceModel {
        localConfig = localConfig == null ? new byte[0] : localConfig.clone();
        if (queueCount < 1 || queueCount > 256) {
            throw new IllegalArgumentException(typeName + ": queue count " + queueCount + " outside 1..256 (vhost-user vring indices are 8 bits)");
        }
        if (maxQueueSize < 1 || maxQueueSize > 32768 || Integer.bitCount(maxQueueSize) != 1) {
            throw new IllegalArgumentException(typeName + ": queue size " + maxQueueSize + " is not a power of two up to 32768");
        }
        if (backendConfigSize < 0 || backendConfigSize > DeviceConfig.MAX_SIZE || localConfig.length > DeviceConfig.MAX_SIZE) {
            throw new IllegalArgumentException(typeName + ": configuration space larger than " + DeviceConfig.MAX_SIZE + " bytes");
        }
    }

    @Override
    public byte[] localConfig() {
        return localConfig.clone();
    }

    public boolean configFromBackend() {
        return backendConfigSize > 0;
    }

    public int configSize() {
        return configFromBackend() ? backendConfigSize : localConfig.length;
    }

    /** This model with a configuration space served by the back-end. */
    public VhostUserDeviceModel withBackendConfig(int size) {
        return new VhostUserDeviceModel(deviceType, typeName, pciClassCode, queueCount, maxQueueSize, deviceFeatureMask, null, size,
                errorCompletion);
    }

    /** This model with {@code completion} answering what a dead back-end left in flight. */
    public VhostUserDeviceModel withErrorCompletion(ErrorCompletion completion) {
        return new VhostUserDeviceModel(deviceType, typeName, pciClassCode, queueCount, maxQueueSize, deviceFeatureMask, localConfig,
                backendConfigSize, completion);
    }
}
