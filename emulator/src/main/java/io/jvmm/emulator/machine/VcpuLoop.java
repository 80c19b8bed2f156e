package io.jvmm.emulator.machine;

import io.jvmm.emulator.kvm.ExitHandler;
import io.jvmm.emulator.kvm.ExitReason;
import io.jvmm.emulator.kvm.KvmVcpu;
import io.jvmm.emulator.kvm.VcpuExit;
import io.jvmm.pci.dispatch.IoCompletion;
import io.jvmm.pci.dispatch.IoSpace;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;

/**
 * One vCPU's thread: KVM_RUN, with port and MMIO exits dispatched to the machine's I/O spaces;
 * parked between runs while the machine is paused (QMP stop, {@link VcpuRunControl}).
 * A write that hands back a completion (rule 1) holds this vCPU until it completes, bounded so a
 * dead back-end cannot hang the guest for ever.
 */
final class VcpuLoop implements Runnable, ExitHandler {
    private static final Logger log = LoggerFactory.getLogger(VcpuLoop.class);
    static final Duration WRITE_TIMEOUT = io.jvmm.platform.MachineServices.DEFAULT_WRITE_BOUND;

    private final KvmVcpu vcpu;
    private final IoSpace mmio;
    private final IoSpace pio;
    private final KvmMachine machine;
    private final VcpuRunControl control;

    VcpuLoop(KvmVcpu vcpu, IoSpace mmio, IoSpace pio, KvmMachine machine, VcpuRunControl control) {
        this.vcpu = vcpu;
        this.control = control;
        this.mmio = mmio;
        this.pio = pio;
        this.machine = machine;
    }

    @Override
    public void run() {
        control.vcpuEntered();
        try {
            ExitReason reason;
            do {
                if (!control.parkWhilePaused()) {
                    return;   // the machine ends
                }
                reason = vcpu.run(this);
            } while (reason == ExitReason.STOPPED);   // paused (or a stale stop): park, then run again
            VcpuExit exit = vcpu.lastExit();
            switch (reason) {
                case SHUTDOWN:
                    machine.requestExit(ExitStatus.GUEST_CRASHED, "the guest triple-faulted (KVM_EXIT_SHUTDOWN): " + exit.describe());
                    break;
                case SYSTEM_EVENT:
                    machine.requestExit(ExitStatus.OK, "guest system event: " + exit.describe());
                    break;
                default:
                    machine.requestExit(ExitStatus.EMULATION_FAILED, "KVM could not run the guest: " + exit.describe());
            }
        } catch (RuntimeException e) {
            log.error("vCPU {} failed", vcpu.id(), e);
            machine.requestExit(ExitStatus.EMULATION_FAILED, "vCPU " + vcpu.id() + " failed: " + e);
        } finally {
            control.vcpuLeft();
        }
    }

    @Override
    public long ioRead(int port, int size) {
        return pio.read(port, size);
    }

    @Override
    public void ioWrite(int port, int size, long value) {
        complete(pio, port, size, value, "port");
    }

    @Override
    public long mmioRead(long address, int size) {
        return mmio.read(address, size);
    }

    @Override
    public void mmioWrite(long address, int size, long value) {
        complete(mmio, address, size, value, "MMIO");
    }

    private void complete(IoSpace space, long address, int size, long value, String kind) {
        try {
            IoCompletion.await(space.write(address, size, value), WRITE_TIMEOUT,   // the message is formatted only on failure
                    () -> String.format("vCPU %d %s write of %d bytes at 0x%x", vcpu.id(), kind, size, address));
        } catch (RuntimeException e) {
            // The device at fault has logged and marked itself; the vCPU goes on (the guest sees
            // the device broken, not a hung CPU).
            log.error("vCPU {}: {}", vcpu.id(), e.getMessage());
        }
    }
}
