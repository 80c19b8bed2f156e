package io.jvmm.virtio;

/**
 * A guest mistake that makes one device unusable until the driver resets it: the transport sets
 * DEVICE_NEEDS_RESET, raises the configuration interrupt and logs the message once. It never
 * propagates to the vCPU or to other devices.
 */
public class VirtioFault extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public VirtioFault(String message) {
        super(message);
    }

    public VirtioFault(String message, Throwable cause) {
        super(message, cause);
    }
}
