package io.jvmm.emulator.vfiouser;

import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.NativeException;
import io.jvmm.pci.msix.InterruptSink;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.pci.msix.Msix;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The interrupt sink of a device served over vfio-user: an MSI-X delivery signals the eventfd the
 * client gave for that vector (SET_IRQS), instead of writing the MSI message anywhere; the client
 * turns the eventfd into the guest's interrupt with the message it emulates.
 *
 * <p>Only vectors that have an eventfd are unmasked in the device's {@link Msix} (see
 * {@link DeviceIrqs}), so a delivery normally finds one; the read/write lock makes sure an eventfd
 * is never closed (and its number reused by another file) while a delivery is writing to it.
 */
final class VectorEventFds implements InterruptSink {
    private static final Logger log = LoggerFactory.getLogger(VectorEventFds.class);

    private final String deviceId;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Map<Integer, EventFd> fds = new HashMap<>();
    private final AtomicLong delivered = new AtomicLong();
    private final AtomicLong lost = new AtomicLong();

    VectorEventFds(String deviceId) {
        this.deviceId = deviceId;
    }

    @Override
    public void deliver(MsiMessage message) {
        lost.incrementAndGet();
        log.warn("{}: an interrupt without a vector ({}) cannot be delivered over vfio-user", deviceId, message);
    }

    @Override
    public void deliver(Msix source, int vector, MsiMessage message) {
        lock.readLock().lock();
        try {
            EventFd fd = fds.get(vector);
            if (fd == null) {
                // A vector is only unmasked with an eventfd; this is a delivery racing its de-assignment.
                lost.incrementAndGet();
                log.debug("{}: MSI-X vector {} delivered while its eventfd was being removed", deviceId, vector);
                return;
            }
            // Counted first: whoever sees the interrupt (a client, a test) finds it counted already.
            delivered.incrementAndGet();
            fd.signal();
        } catch (NativeException e) {
            delivered.decrementAndGet();
            lost.incrementAndGet();
            log.warn("{}: signalling the eventfd of MSI-X vector {} failed: {}", deviceId, vector, e.getMessage());
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Installs (or with null removes) vector's eventfd, closing the one it replaces. */
    void set(int vector, EventFd fd) {
        EventFd old;
        lock.writeLock().lock();
        try {
            old = fd == null ? fds.remove(vector) : fds.put(vector, fd);
            if (old != null && old != fd) {
                old.close();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    boolean has(int vector) {
        lock.readLock().lock();
        try {
            return fds.containsKey(vector);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Removes and closes every eventfd. */
    void clear() {
        lock.writeLock().lock();
        try {
            fds.values().forEach(EventFd::close);
            fds.clear();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Deliveries that reached an eventfd. */
    long delivered() {
        return delivered.get();
    }

    /** Deliveries that found no eventfd (raced a de-assignment) or whose signal failed. */
    long lost() {
        return lost.get();
    }
}
