package io.jvmm.testkit.junit;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.platform.BuiltDevice;
import io.jvmm.platform.MachineServices;
import io.jvmm.platform.registry.DeclaredDeviceType;
import io.jvmm.platform.registry.DeviceCategory;
import io.jvmm.platform.registry.DeviceOptions;
import io.jvmm.platform.registry.PropertyValues;
import io.jvmm.virtio.VirtioActivation;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioIdentity;
import io.jvmm.virtio.pci.VirtioPciDevice;
import io.jvmm.virtio.queue.SplitVirtqueue;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The smallest virtio device, for the extension's own tests (the kit's tests cannot use the real
 * devices, which depend on the kit): one queue whose buffers are returned untouched.
 * {@code -device jvmm-test-sink}. A guest mistake on its ring (caught by the transport's split
 * virtqueue) sets DEVICE_NEEDS_RESET as on any virtio device.
 */
public final class SinkDevice implements VirtioDevice {
    static final int DEVICE_TYPE = 63;

    private final VirtioIdentity identity;
    private VirtioActivation activation;

    SinkDevice(String id) {
        this.identity = new VirtioIdentity(id, DEVICE_TYPE, "jvmm-sink", 0xff0000);
    }

    @Override
    public VirtioIdentity identity() {
        return identity;
    }

    @Override
    public long deviceFeatures() {
        return 0;
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int maxQueueSize() {
        return 64;
    }

    @Override
    public int configSize() {
        return 0;
    }

    @Override
    public int readConfig(int offset, int size) {
        return 0;
    }

    @Override
    public void writeConfig(int offset, int size, int value) {
    }

    @Override
    public CompletableFuture<Void> activate(VirtioActivation activation) {
        this.activation = activation;
        return IoCompletion.DONE;
    }

    @Override
    public void queueNotified(int queue) {
        SplitVirtqueue vq = activation == null ? null : activation.queue(0);
        if (vq != null) {
            vq.drain(chain -> vq.push(chain, 0), vq::notifyGuest);
        }
    }

    @Override
    public CompletableFuture<Void> reset() {
        activation = null;
        return IoCompletion.DONE;
    }

    record Options(String id) implements DeviceOptions {
    }

    /** Its registry entry (testkit/src/test/resources/META-INF/services). */
    public static final class Type extends DeclaredDeviceType<Options> {
        public Type() {
            super("jvmm-test-sink", DeviceCategory.MISC, "PCI", "the test kit's own tests' virtio device: buffers returned untouched",
                    List.of());
        }

        @Override
        public Options options(PropertyValues v) {
            return new Options(v.id());
        }

        @Override
        public BuiltDevice build(Options options, MachineServices services) {
            return new BuiltDevice.Pci(new VirtioPciDevice(new SinkDevice(options.id()), services));
        }
    }
}
