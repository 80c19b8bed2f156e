package io.jvmm.devices.blk;

import io.jvmm.platform.registry.BackendOptions;

/**
 * Something a block device or an NBD export opens as its {@link BlockBackend}: a {@code -drive}
 * or a {@code -blockdev} node (file, qcow2, nbd). The device's {@code drive=} property names either.
 */
public interface BlockSource extends BackendOptions {
    /**
     * Opens it for {@code user} (a device id, an export). The open runs on the main loop as a
     * synchronous wait (see {@link BlockOpener}).
     *
     * @throws io.jvmm.platform.options.UserError naming the option and what could not be opened
     */
    BlockBackend open(String user);

    /** Whether writes are refused (readonly=on / read-only=on). */
    boolean readOnly();

    /** The option that defined it, for errors ("-drive d0", "-blockdev node 'base'"). */
    String where();
}
