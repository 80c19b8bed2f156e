package io.jvmm.emulator.vfiouser;

import io.jvmm.chardev.EventFd;
import io.jvmm.pci.ConfigRegisters;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.msix.Msix;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * GET_IRQ_INFO and SET_IRQS for one device: INTx, MSI and MSI-X as VFIO numbers them.
 *
 * <p>With vfio-user the client emulates the MSI-X table and masking for the guest; the server's
 * job is to signal the eventfd the client set for a vector. The device's own {@link Msix} is
 * therefore driven from here, not by the guest: MSI-X is enabled while the client has MSI-X
 * configured, and a vector is unmasked exactly while it has an eventfd (and the client has not
 * masked it with ACTION_MASK). A signal on a vector without an eventfd thus sets its PBA bit, and
 * installing an eventfd later delivers it: no interrupt is lost across a re-configuration or a
 * client reconnect, and the PBA the client reads from us is the truth.
 */
final class DeviceIrqs {
    private static final Logger log = LoggerFactory.getLogger(DeviceIrqs.class);
    private static final Duration CONTROL_TIMEOUT = Duration.ofSeconds(10);

    static final int INTX = 0;
    static final int MSI = 1;
    static final int MSIX = 2;
    static final int ERR = 3;
    static final int REQ = 4;
    static final int COUNT = 5;

    static final int DATA_NONE = 1;
    static final int DATA_BOOL = 1 << 1;
    static final int DATA_EVENTFD = 1 << 2;
    static final int ACTION_MASK = 1 << 3;
    static final int ACTION_UNMASK = 1 << 4;
    static final int ACTION_TRIGGER = 1 << 5;
    private static final int DATA_BITS = DATA_NONE | DATA_BOOL | DATA_EVENTFD;
    private static final int ACTION_BITS = ACTION_MASK | ACTION_UNMASK | ACTION_TRIGGER;

    static final int INFO_EVENTFD = 1;
    static final int INFO_MASKABLE = 1 << 1;
    static final int INFO_AUTOMASKED = 1 << 2;

    /** GET_IRQ_INFO's answer for one index. */
    record IrqInfo(int flags, int count) {
    }

    private final PciDevice device;
    private final Msix msix;
    private final VectorEventFds vectors;
    private final BitSet clientMasked = new BitSet();
    private boolean msixConfigured;
    private EventFd intxTrigger;
    private EventFd intxUnmask;
    private boolean intxMasked;

    /** @param msix the device's MSI-X, or null if it has none */
    DeviceIrqs(PciDevice device, Msix msix, VectorEventFds vectors) {
        this.device = device;
        this.msix = msix;
        this.vectors = vectors;
    }

    synchronized IrqInfo info(int index) {
        return switch (index) {
            case INTX -> device.configRead(ConfigRegisters.INTERRUPT_PIN, 1) != 0
                    ? new IrqInfo(INFO_EVENTFD | INFO_MASKABLE | INFO_AUTOMASKED, 1) : new IrqInfo(INFO_EVENTFD, 0);
            case MSIX -> msix != null ? new IrqInfo(INFO_EVENTFD | INFO_MASKABLE, msix.vectorCount()) : new IrqInfo(INFO_EVENTFD, 0);
            case MSI -> new IrqInfo(INFO_EVENTFD, 0);   // our devices have no MSI capability
            case ERR, REQ -> new IrqInfo(0, 0);
            default -> throw new VfioUserException(Errno.EINVAL, "IRQ index " + index + " does not exist (0.." + (COUNT - 1) + ")");
        };
    }

    /**
     * One SET_IRQS request. {@code bools} holds the DATA_BOOL array (else null); the eventfds, for
     * DATA_EVENTFD, are taken from {@code fds} (none means de-assign).
     */
    synchronized void set(int flags, int index, int start, int count, byte[] bools, ReceivedFds fds) {
        int data = flags & DATA_BITS;
        int action = flags & ACTION_BITS;
        if ((flags & ~(DATA_BITS | ACTION_BITS)) != 0 || Integer.bitCount(data) != 1 || Integer.bitCount(action) != 1) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS flags 0x" + Integer.toHexString(flags)
                    + " must have exactly one DATA_ and one ACTION_ bit and nothing else");
        }
        IrqInfo info = info(index);
        if (data != DATA_EVENTFD && fds.count() > 0) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS index " + index + " without DATA_EVENTFD came with "
                    + fds.count() + " fds");
        }
        if (count == 0) {
            if (data != DATA_NONE || action != ACTION_TRIGGER) {
                throw new VfioUserException(Errno.EINVAL, "SET_IRQS with count 0 must be DATA_NONE|ACTION_TRIGGER (disable the index)");
            }
            disable(index);
            return;
        }
        if (start < 0 || count < 0 || (long) start + count > info.count()) {
            throw new VfioUserException(Errno.EINVAL, String.format("SET_IRQS index %d: sub-indexes %d..%d out of range (the index has %d)",
                    index, Integer.toUnsignedLong(start), Integer.toUnsignedLong(start) + Integer.toUnsignedLong(count) - 1, info.count()));
        }
        if (data == DATA_EVENTFD && fds.count() != 0 && fds.count() != count) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS index " + index + " count " + count + " came with "
                    + fds.count() + " fds (must be " + count + ", or none to de-assign)");
        }
        switch (index) {
            case INTX -> setIntx(data, action, bools, fds);
            case MSIX -> setMsix(data, action, start, count, bools, fds);
            default -> throw new VfioUserException(Errno.EINVAL, "SET_IRQS index " + index + " has no interrupts");
        }
    }

    private void setIntx(int data, int action, byte[] bools, ReceivedFds fds) {
        if (data == DATA_EVENTFD) {
            EventFd fd = fds.count() == 0 ? null : adopt(fds, 0);
            if (action == ACTION_TRIGGER) {
                replaceIntx(true, fd);
            } else if (action == ACTION_UNMASK) {
                replaceIntx(false, fd);
            } else {
                if (fd != null) {
                    fd.close();
                }
                throw new VfioUserException(Errno.EINVAL, "SET_IRQS INTx: DATA_EVENTFD with ACTION_MASK is not supported");
            }
            return;
        }
        if (bools != null && bools[0] == 0) {
            return;
        }
        switch (action) {
            case ACTION_MASK -> intxMasked = true;
            case ACTION_UNMASK -> intxMasked = false;
            default -> {   // the client triggers INTx: signal it, and it masks itself (AUTOMASKED)
                if (intxTrigger != null && !intxMasked) {
                    intxTrigger.signal();
                    intxMasked = true;
                }
            }
        }
    }

    private void replaceIntx(boolean trigger, EventFd fd) {
        EventFd old = trigger ? intxTrigger : intxUnmask;
        if (trigger) {
            intxTrigger = fd;
        } else {
            intxUnmask = fd;
        }
        if (old != null) {
            old.close();
        }
        log.debug("{}: INTx {} eventfd {}", device.id(), trigger ? "trigger" : "unmask", fd == null ? "removed" : fd);
    }

    private void setMsix(int data, int action, int start, int count, byte[] bools, ReceivedFds fds) {
        if (data == DATA_EVENTFD) {
            if (action != ACTION_TRIGGER) {
                throw new VfioUserException(Errno.EINVAL, "SET_IRQS MSI-X: DATA_EVENTFD is only supported with ACTION_TRIGGER");
            }
            List<EventFd> adopted = new ArrayList<>();
            try {
                for (int i = 0; i < fds.count(); i++) {
                    adopted.add(adopt(fds, i));
                }
            } catch (VfioUserException e) {
                adopted.forEach(EventFd::close);
                throw e;
            }
            enableMsix();
            for (int i = 0; i < count; i++) {
                int v = start + i;
                if (adopted.isEmpty()) {
                    applyMask(v, true);   // mask first: a signal from now on is pending, not lost
                    vectors.set(v, null);
                } else {
                    vectors.set(v, adopted.get(i));
                    applyMask(v, clientMasked.get(v));   // unmasking delivers a pending interrupt to the new fd
                }
            }
            log.debug("{}: MSI-X vectors {}..{} {}", device.id(), start, start + count - 1,
                    adopted.isEmpty() ? "de-assigned" : "assigned eventfds " + adopted);
            return;
        }
        for (int i = 0; i < count; i++) {
            int v = start + i;
            if (bools != null && bools[i] == 0) {
                continue;
            }
            switch (action) {
                case ACTION_MASK -> {
                    clientMasked.set(v);
                    applyMask(v, true);
                }
                case ACTION_UNMASK -> {
                    clientMasked.clear(v);
                    applyMask(v, !vectors.has(v));
                }
                default -> msix.signal(v);   // the client triggers the vector: as if the device did
            }
        }
    }

    private static EventFd adopt(ReceivedFds fds, int index) {
        int fd = fds.take(index);
        try {
            return EventFd.adopt(fd);
        } catch (IllegalArgumentException e) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS fd #" + index + ": " + e.getMessage());
        }
    }

    private void disable(int index) {
        switch (index) {
            case INTX -> {
                replaceIntx(true, null);
                replaceIntx(false, null);
                intxMasked = false;
            }
            case MSIX -> {
                if (msix != null) {
                    for (int v = 0; v < msix.vectorCount(); v++) {
                        applyMask(v, true);
                    }
                    vectors.clear();
                    clientMasked.clear();
                    if (msixConfigured) {
                        msixConfigured = false;
                        writeMsixControl(0);
                        log.debug("{}: MSI-X disabled by the client", device.id());
                    }
                }
            }
            default -> {
                // MSI, ERR and REQ have no interrupts: nothing to disable
            }
        }
    }

    /** A client went away: its eventfds are closed, the vectors masked so signals stay pending in the PBA. */
    synchronized void releaseClient() {
        if (msix != null) {
            for (int v = 0; v < msix.vectorCount(); v++) {
                applyMask(v, true);
            }
        }
        vectors.clear();
        clientMasked.clear();
        replaceIntx(true, null);
        replaceIntx(false, null);
        intxMasked = false;
    }

    /** After a function reset (which disabled and masked MSI-X) the client's configuration applies again. */
    synchronized void afterReset() {
        if (msix == null || !msixConfigured) {
            return;
        }
        writeMsixControl(Msix.CONTROL_ENABLE);
        for (int v = 0; v < msix.vectorCount(); v++) {
            applyMask(v, clientMasked.get(v) || !vectors.has(v));
        }
    }

    private void enableMsix() {
        if (msix == null) {
            throw new VfioUserException(Errno.EINVAL, device.id() + " has no MSI-X");
        }
        if (!msixConfigured) {
            msixConfigured = true;
            writeMsixControl(Msix.CONTROL_ENABLE);
            log.debug("{}: MSI-X enabled by the client", device.id());
        }
    }

    private void writeMsixControl(int value) {
        IoCompletion.await(device.configWrite(msix.capabilityOffset() + 2, 2, value), CONTROL_TIMEOUT,
                device.id() + " MSI-X message control write");
    }

    private void applyMask(int vector, boolean masked) {
        if (msix.isVectorMaskBitSet(vector) == masked) {
            return;
        }
        IoCompletion.await(msix.tableHandler().write((long) vector * Msix.ENTRY_SIZE + 12, 4, masked ? 1 : 0),
                CONTROL_TIMEOUT, device.id() + " MSI-X vector " + vector + " mask");
    }

    /** Whether the client has MSI-X configured (enabled) on the device. */
    synchronized boolean msixEnabled() {
        return msixConfigured;
    }
}
