package io.jvmm.platform.registry;

/** What every device's options record has: the device id (given, or generated from the driver). */
public interface DeviceOptions {
    String id();
}
