package io.jvmm.virtio.pci;

import static io.jvmm.virtio.pci.CommonConfigLayout.*;

import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.mem.GuestMemory;
import io.jvmm.virtio.VirtioDevice;
import io.jvmm.virtio.VirtioFault;
import io.jvmm.virtio.VirtioFeatures;
import io.jvmm.virtio.queue.SplitVirtqueue;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The common configuration registers of virtio-pci (struct virtio_pci_common_cfg, virtio 1.x
 * 4.1.4.3): feature windows, the queue selector and each queue's registers. Decodes accesses by
 * field and width; status writes go to the {@link DeviceLifecycle}, whose lock guards all of this.
 */
final class CommonConfig {
    private static final Logger log = LoggerFactory.getLogger(CommonConfig.class);

    private final String id;
    private final VirtioDevice device;
    private final DeviceLifecycle lifecycle;
    private final GuestMemory memory;
    private final QueueRegisters[] queues;
    private final long offeredFeatures;
    private final int vectorCount;

    // Guarded by the lifecycle.
    private int deviceFeatureSelect;
    private int driverFeatureSelect;
    private long driverFeatures;
    private volatile int configVector = QueueRegisters.NO_VECTOR;   // read without the lock when interrupting
    private int queueSelect;

    CommonConfig(VirtioDevice device, DeviceLifecycle lifecycle, GuestMemory memory, long offeredFeatures, int vectorCount) {
        this.id = device.id();
        this.device = device;
        this.lifecycle = lifecycle;
        this.memory = memory;
        this.offeredFeatures = offeredFeatures;
        this.vectorCount = vectorCount;
        this.queues = new QueueRegisters[device.queueCount()];
        for (int i = 0; i < queues.length; i++) {
            queues[i] = new QueueRegisters(device.maxQueueSize());
        }
    }

    // ---- what the lifecycle reads (under its lock; the vectors also without it) ---------------

    long offeredFeatures() {
        return offeredFeatures;
    }

    long driverFeatures() {
        return driverFeatures;
    }

    int configVector() {
        return configVector;
    }

    int queueCount() {
        return queues.length;
    }

    int queueVector(int queue) {
        return queues[queue].vector;
    }

    /** The rings of the enabled queues (null where a queue is not enabled). */
    SplitVirtqueue[] enabledRings() {
        SplitVirtqueue[] rings = new SplitVirtqueue[queues.length];
        for (int i = 0; i < queues.length; i++) {
            rings[i] = queues[i].enabled ? queues[i].ring : null;
        }
        return rings;
    }

    /** Back to the state after a device reset. */
    void reset() {
        for (QueueRegisters q : queues) {
            q.reset();
        }
        deviceFeatureSelect = 0;
        driverFeatureSelect = 0;
        driverFeatures = 0;
        configVector = QueueRegisters.NO_VECTOR;
        queueSelect = 0;
    }

    // ---- guest accesses -------------------------------------------------------------------------

    long read(int offset, int size) {
        synchronized (lifecycle) {
            int width = widthAt(offset);
            boolean upperHalf = false;
            if (width == 0 && offset >= QUEUE_DESC && offset < LENGTH && (offset & 7) == 4 && size == 4) {
                width = 8;   // the upper dword of a 64-bit queue address
                offset -= 4;
                upperHalf = true;
            }
            if (width == 0 || (size != width && !(width == 8 && size == 4))) {
                log.debug("{}: common config read of {} bytes at 0x{} ignored", id, size, Integer.toHexString(offset));
                return 0;
            }
            long value = field(offset);
            return upperHalf ? value >>> 32 : value & mask(size);
        }
    }

    private long field(int offset) {
        QueueRegisters q = selectedQueue();
        switch (offset) {
            case DEVICE_FEATURE_SELECT: return deviceFeatureSelect;
            case DEVICE_FEATURE: return deviceFeatureSelect < 2 ? (offeredFeatures >>> (32 * deviceFeatureSelect)) & 0xffffffffL : 0;
            case DRIVER_FEATURE_SELECT: return driverFeatureSelect;
            case DRIVER_FEATURE: return driverFeatureSelect < 2 ? (driverFeatures >>> (32 * driverFeatureSelect)) & 0xffffffffL : 0;
            case CONFIG_MSIX_VECTOR: return configVector;
            case NUM_QUEUES: return queues.length;
            case DEVICE_STATUS: return lifecycle.statusLocked();
            case CONFIG_GENERATION: return lifecycle.configGenerationLocked() & 0xff;
            case QUEUE_SELECT: return queueSelect;
            case QUEUE_SIZE: return q == null ? 0 : q.size;
            case QUEUE_MSIX_VECTOR: return q == null ? QueueRegisters.NO_VECTOR : q.vector;
            case QUEUE_ENABLE: return q != null && q.enabled ? 1 : 0;
            case QUEUE_NOTIFY_OFF: return q == null ? 0 : queueSelect;
            case QUEUE_DESC: return q == null ? 0 : q.desc;
            case QUEUE_DRIVER: return q == null ? 0 : q.driver;
            case QUEUE_DEVICE: return q == null ? 0 : q.device;
            default: return 0;
        }
    }

    private QueueRegisters selectedQueue() {
        return queueSelect < queues.length ? queues[queueSelect] : null;
    }

    CompletableFuture<Void> write(int offset, int size, long value) {
        synchronized (lifecycle) {
            int width = widthAt(offset);
            if (width == 0 && offset >= QUEUE_DESC && offset < LENGTH && (offset & 7) == 4 && size == 4) {
                writeQueueAddressHalf(offset - 4, true, value);
                return IoCompletion.DONE;
            }
            if (width == 8 && size == 4) {
                writeQueueAddressHalf(offset, false, value);
                return IoCompletion.DONE;
            }
            if (width == 0 || size != width) {
                log.warn("{}: common config write of {} bytes at 0x{} does not match a field; ignored",
                        id, size, Integer.toHexString(offset));
                return IoCompletion.DONE;
            }
            if (lifecycle.resettingLocked() && offset != DEVICE_STATUS) {
                log.warn("{}: register write at 0x{} while a reset is in progress; ignored", id, Integer.toHexString(offset));
                return IoCompletion.DONE;
            }
            QueueRegisters q = selectedQueue();
            int v = (int) value;
            switch (offset) {
                case DEVICE_FEATURE_SELECT: deviceFeatureSelect = v; break;
                case DRIVER_FEATURE_SELECT: driverFeatureSelect = v; break;
                case DRIVER_FEATURE: writeDriverFeatures(v); break;
                case CONFIG_MSIX_VECTOR: configVector = validVector(v & 0xffff); break;
                case DEVICE_STATUS: return lifecycle.writeStatusLocked(v & 0xff);
                case QUEUE_SELECT: queueSelect = v & 0xffff; break;
                case QUEUE_SIZE: if (q != null && !q.enabled) { q.size = v & 0xffff; } break;
                case QUEUE_MSIX_VECTOR: return q == null ? IoCompletion.DONE : writeQueueVector(q, v & 0xffff);
                case QUEUE_ENABLE: return q == null ? IoCompletion.DONE : enableQueue(q, v & 0xffff);
                case QUEUE_DESC: case QUEUE_DRIVER: case QUEUE_DEVICE:
                    writeQueueAddressHalf(offset, false, value);
                    writeQueueAddressHalf(offset, true, value >>> 32);
                    break;
                default:
                    log.debug("{}: write to read-only common config field 0x{} ignored", id, Integer.toHexString(offset));
            }
            return IoCompletion.DONE;
        }
    }

    private void writeQueueAddressHalf(int field, boolean upper, long half) {
        QueueRegisters q = selectedQueue();
        if (q == null || q.enabled) {
            return;   // addresses are fixed once the queue is enabled
        }
        long shift = upper ? 32 : 0;
        long keep = upper ? 0xffffffffL : 0xffffffff00000000L;
        long bits = (half & 0xffffffffL) << shift;
        switch (field) {
            case QUEUE_DESC: q.desc = (q.desc & keep) | bits; break;
            case QUEUE_DRIVER: q.driver = (q.driver & keep) | bits; break;
            case QUEUE_DEVICE: q.device = (q.device & keep) | bits; break;
            default: break;
        }
    }

    /** A vector the device cannot use reads back as NO_VECTOR, telling the driver it failed. */
    private int validVector(int vector) {
        return vector < vectorCount ? vector : QueueRegisters.NO_VECTOR;
    }

    private void writeDriverFeatures(int value) {
        if (lifecycle.featuresLockedIn()) {
            log.warn("{}: driver features written after FEATURES_OK; ignored", id);
            return;
        }
        if (driverFeatureSelect < 2) {
            int shift = 32 * driverFeatureSelect;
            driverFeatures = (driverFeatures & ~(0xffffffffL << shift)) | ((value & 0xffffffffL) << shift);
        }
    }

    /** A changed vector of an enabled queue is the device's business too (vhost-user re-wires its call fd). */
    private CompletableFuture<Void> writeQueueVector(QueueRegisters q, int value) {
        int vector = validVector(value);
        int old = q.vector;
        q.vector = vector;
        return q.enabled && vector != old ? device.queueVectorChanged(queueSelect, vector) : IoCompletion.DONE;
    }

    private CompletableFuture<Void> enableQueue(QueueRegisters q, int value) {
        if (value != 1) {
            log.warn("{}: queue_enable written with {} (only 1 is allowed); ignored", id, value);
            return IoCompletion.DONE;
        }
        if (q.enabled) {
            return IoCompletion.DONE;
        }
        int index = queueSelect;
        try {
            q.ring = new SplitVirtqueue(index, memory, q.size, q.maxSize, q.desc, q.driver, q.device,
                    VirtioFeatures.has(driverFeatures, VirtioFeatures.RING_EVENT_IDX),
                    VirtioFeatures.has(driverFeatures, VirtioFeatures.RING_INDIRECT_DESC),
                    () -> lifecycle.raiseQueueInterrupt(index));
            q.enabled = true;
        } catch (VirtioFault fault) {
            lifecycle.markBroken(fault);
            return IoCompletion.DONE;
        }
        return device.queueEnabled(new VirtioDevice.QueueConfig(index, q.size, q.desc, q.driver, q.device, q.vector));
    }

    private static long mask(int size) {
        return size == 8 ? -1L : (1L << (8 * size)) - 1;
    }
}
