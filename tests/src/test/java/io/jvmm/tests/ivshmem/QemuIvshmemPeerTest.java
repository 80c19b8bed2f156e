package io.jvmm.tests.ivshmem;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.jvmm.chardev.Await;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.ivshmem.IvshmemDoorbellDevice;
import io.jvmm.devices.ivshmem.server.IvshmemServer;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.pci.Bar;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.tests.vfiouser.QemuRig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A peer nobody here wrote: Debian's QEMU 7.2 (qemu-system-x86, TCG) with {@code -device
 * ivshmem-doorbell} joins jvmm's ivshmem server next to a jvmm machine (the no-CPU machine with
 * the same device). The QEMU guest (Debian's kernel, busybox devmem at the BAR addresses from
 * sysfs) reads what jvmm's guest wrote into BAR2 and writes back; it rings jvmm's vector 1, which
 * reaches jvmm's MSI-X; then it enables MSI-X on QEMU's device through the config space in sysfs
 * (QEMU drops doorbells while MSI-X is off, and Linux has no ivshmem driver) and points vector 0 at
 * an address in its own BAR2: under TCG an MSI to a non-APIC address is a plain memory write (the
 * trick QEMU's libqos uses), so jvmm's doorbell shows up in the shared memory, where the QEMU guest
 * reads it with devmem and jvmm's host side sees it too. (Guest RAM would do as well, but Debian's
 * kernel refuses /dev/mem mappings of RAM, even beyond mem=.)
 */
@Timeout(value = 15, unit = TimeUnit.MINUTES)
class QemuIvshmemPeerTest {
    private static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    private static final int READY = 0x52454459;
    private static final int JVMM_WORDS = 16;
    private static final int QEMU_WORDS = 16;
    private static final int QEMU_OFFSET = 65536;

    @TempDir
    Path dir;

    @Test
    void qemu72AndJvmmShareMemoryAndRingEachOther() throws Exception {
        assumeTrue(Files.isExecutable(QEMU), "Debian's qemu-system-x86 is not installed (scripts/test installs it)");
        QemuRig rig = QemuRig.get();   // the Debian kernel and busybox image
        Path socket = dir.resolve("ivshmem.sock");
        try (IvshmemServer server = IvshmemServer.start(socket, SharedMemory.create("ivshmem-qemu", 1 << 20), true, 2,
                IvshmemServer.DEFAULT_MAX_CLIENTS, null);
             TestMachine jvmm = TestMachine.builder().option("-chardev", "socket,id=c0,path=" + socket)
                     .device("ivshmem-doorbell,id=iv0,chardev=c0,vectors=2").build()) {
            Guest guest = Guest.of(jvmm);
            PciFunction fn = guest.enumerate().stream().filter(f -> f.vendorId() == 0x1af4 && f.deviceId() == 0x1110).findFirst()
                    .orElseThrow();
            List<Bar> bars = guest.bars().assign(fn);
            long regs = bars.stream().filter(b -> b.index() == 0).findFirst().orElseThrow().address();
            long mem = bars.stream().filter(b -> b.index() == 2).findFirst().orElseThrow().address();
            int jvmmId = (int) guest.cpu().readMmio(regs + 8, 4);
            MsixDriver msix = new MsixDriver(guest.cpu(), fn);
            MsiMessage m0 = guest.interrupts().allocateMessage();
            MsiMessage m1 = guest.interrupts().allocateMessage();
            msix.enable(List.of(m0, m1));
            for (int i = 0; i < JVMM_WORDS; i++) {
                guest.cpu().writeMmio(mem + 4096L * i, 4, 0x1A550000L + i);
            }

            Path initrd = rig.initrdWith(guestScript(jvmmId), dir.resolve("initrd"));
            Process qemu = new ProcessBuilder(QEMU.toString(), "-accel", "tcg", "-m", "256", "-smp", "1", "-nographic", "-no-reboot",
                    "-kernel", rig.kernel.toString(), "-initrd", initrd.toString(), "-append", "console=ttyS0 quiet no_timer_check panic=-1",
                    "-device", "isa-debug-exit,iobase=0x501,iosize=2",
                    "-chardev", "socket,id=iv,path=" + socket, "-device", "ivshmem-doorbell,chardev=iv,vectors=2")
                    .redirectErrorStream(true).start();
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            Thread pump = new Thread(() -> copy(qemu, console), "qemu72-console");
            pump.start();
            try {
                Await.until(() -> server.clients().size() == 2 || !qemu.isAlive(), "QEMU 7.2 joined the server");
                assertTrue(qemu.isAlive(), "QEMU 7.2 runs: " + text(console));
                int qemuId = server.clients().stream().mapToInt(IvshmemServer.ClientView::id).filter(id -> id != jvmmId).findFirst()
                        .orElseThrow();
                IvshmemDoorbellDevice device = (IvshmemDoorbellDevice) jvmm.pciDevice("iv0");
                Await.until(() -> device.peerVectors(qemuId) == 2, "jvmm holds QEMU's two eventfds");

                ByteBuffer shared = server.memory().slice(0, 1 << 20);
                Await.until(() -> shared.getInt(0x1000) == READY || !qemu.isAlive(), Duration.ofMinutes(8),
                        () -> "the QEMU guest enabled MSI-X on its device:\n" + QemuRig.tail(text(console)));
                assertTrue(qemu.isAlive(), "QEMU's guest still runs:\n" + QemuRig.tail(text(console)));
                guest.cpu().writeMmio(regs + 12, 4, (long) qemuId << 16);   // ring QEMU's vector 0

                assertTrue(qemu.waitFor(5, TimeUnit.MINUTES), "QEMU's guest finished:\n" + QemuRig.tail(text(console)));
                pump.join(5000);
                String out = text(console);
                QemuRig.assertChecks(out, List.of("found", "position", "jvmm-bytes", "rang", "msix-cap", "msix-ram"));
                assertEquals(1, qemu.exitValue(), "the guest's status is 0 (isa-debug-exit: (0 << 1) | 1)\n" + QemuRig.tail(out));
                assertTrue(out.contains("IVPOSITION " + qemuId), "QEMU's IVPosition is the id our server gave\n" + QemuRig.tail(out));

                assertTrue(guest.interrupts().awaitMoreThan(m1, 0, Await.HANG_GUARD), "QEMU's doorbell raised jvmm's vector 1");
                assertEquals(0, guest.interrupts().count(m0), "and only vector 1");
                for (int i = 0; i < QEMU_WORDS; i++) {
                    assertEquals(0x0E720000L + i, guest.cpu().readMmio(mem + QEMU_OFFSET + 4L * i, 4), "QEMU's word " + i
                            + " read through jvmm's BAR2");
                }
                assertEquals(0x600DCAFE, shared.getInt(8192), "the MSI jvmm's doorbell raised in QEMU wrote the shared memory");
                System.out.println("QEMU 7.2 peer: id " + qemuId + " next to jvmm's " + jvmmId + "; console:\n" + QemuRig.tail(out));
            } finally {
                if (qemu.isAlive()) {
                    qemu.destroyForcibly();
                    qemu.waitFor(10, TimeUnit.SECONDS);
                }
                pump.join(5000);
            }
        }
    }

    private static String text(ByteArrayOutputStream console) {
        synchronized (console) {
            return console.toString(StandardCharsets.UTF_8).replace("\r", "");
        }
    }

    private static void copy(Process p, ByteArrayOutputStream out) {
        byte[] buffer = new byte[4096];
        try (var in = p.getInputStream()) {
            int n;
            while ((n = in.read(buffer)) > 0) {
                synchronized (out) {
                    out.write(buffer, 0, n);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** QEMU's guest: the device from sysfs, its BARs with devmem, MSI-X enabled by hand. */
    private static String guestScript(int jvmmId) {
        return QemuRig.checkingScript("0x1af4", "0x1110") + """
                byte() { od -An -tu1 -j"$2" -N1 "$1" | tr -d ' '; }
                poke() { printf "\\\\$(printf '%%03o' "$3")" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null; }
                bar0=$(sed -n 1p "$dev/resource" | cut -d' ' -f1)
                bar1=$(sed -n 2p "$dev/resource" | cut -d' ' -f1)
                bar2=$(sed -n 3p "$dev/resource" | cut -d' ' -f1)
                echo "ivshmem at $dev: BAR0 $bar0 BAR1 $bar1 BAR2 $bar2"
                pos=$(($(devmem $((bar0 + 8)) 32)))
                echo "IVPOSITION $pos"
                [ "$pos" -ge 0 ] && [ "$pos" -ne %1$d ] && ok position || bad position "IVPosition $pos (jvmm is %1$d)"

                wrong=0; i=0
                while [ $i -lt %2$d ]; do
                    v=$(devmem $((bar2 + 4096 * i)) 32)
                    [ "$v" = "$(printf '0x%%08X' $((0x1A550000 + i)))" ] || { wrong=$((wrong + 1)); echo "word $i: $v"; }
                    i=$((i + 1))
                done
                [ $wrong -eq 0 ] && ok jvmm-bytes || bad jvmm-bytes "$wrong of %2$d words differ"
                i=0
                while [ $i -lt %3$d ]; do
                    devmem $((bar2 + %4$d + 4 * i)) 32 $((0x0E720000 + i))
                    i=$((i + 1))
                done

                devmem $((bar0 + 12)) 32 $(( (%1$d << 16) | 1 ))
                ok rang

                cmd=$(byte "$dev/config" 4)
                poke "$dev/config" 4 $((cmd | 6))
                cap=$(byte "$dev/config" 52)
                while [ "$cap" -ne 0 ] && [ "$(byte "$dev/config" "$cap")" -ne 17 ]; do cap=$(byte "$dev/config" $((cap + 1))); done
                [ "$cap" -ne 0 ] && ok msix-cap || { bad msix-cap "no MSI-X capability"; exit $fails; }
                target=$((bar2 + 8192))
                devmem $target 32 0
                devmem "$bar1" 32 $((target & 0xFFFFFFFF))
                devmem $((bar1 + 4)) 32 $((target >> 32))
                devmem $((bar1 + 8)) 32 0x600DCAFE
                devmem $((bar1 + 12)) 32 0
                ctl=$(byte "$dev/config" $((cap + 3)))
                poke "$dev/config" $((cap + 3)) $(( (ctl | 128) & 191 ))
                devmem $((bar2 + 4096)) 32 0x%5$08X
                n=0; v=0
                while [ $n -lt 600 ]; do
                    v=$(devmem $target 32)
                    [ "$v" = "0x600DCAFE" ] && break
                    sleep 0.1; n=$((n + 1))
                done
                [ "$v" = "0x600DCAFE" ] && ok msix-ram || bad msix-ram "the MSI's target in BAR2 reads $v"
                exit $fails
                """.formatted(jvmmId, JVMM_WORDS, QEMU_WORDS, QEMU_OFFSET, READY);
    }
}
