package io.jvmm.tests.racelab;

import io.jvmm.devices.blk.BlkDevice;
import io.jvmm.devices.blk.BlkMetrics;
import io.jvmm.devices.blk.BlkOptions;
import io.jvmm.devices.blk.DriveOptions;
import io.jvmm.devices.blk.RawFileBackend;
import io.jvmm.devices.rng.RngDevice;
import io.jvmm.emulator.vfiouser.ServedDevice;
import io.jvmm.emulator.vfiouser.VfioUserServer;
import io.jvmm.tests.vfiouser.QemuRig;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Part 1's differential run: QEMU 11.1's own virtio-rng-pci and virtio-blk-pci beside jvmm's
 * served over vfio-user, in one guest of the vfio-user rig (Debian's kernel, TCG, two vCPUs). For
 * each device the guest dumps the PCI configuration space and the BARs (sysfs), the features the
 * kernel's driver negotiated, then unbinds the driver and probes the virtio registers with busybox
 * {@code devmem}: the offered features (every device_feature_select), the reset state, reads of
 * read-only registers after writes, out-of-range queue and vector numbers, queue sizes that are
 * not powers of two, FEATURES_OK with features never offered or without VERSION_1, the ISR and the
 * device-specific configuration. The host decodes both sides into named items (header fields, the
 * capability chain, each feature bit, each probe) and lists every item whose value differs.
 *
 * <p>Main of {@code scripts/race-lab-differential}: prints the difference list (Markdown) on stdout.
 */
public final class DeviceDifferential {
    static final int DISK_BYTES = 16 << 20;

    /** The four devices: QEMU's and jvmm's of each type, at fixed slots. */
    static final List<String[]> PAIRS = List.of(new String[] {"virtio-rng-pci", "0000:00:05.0", "0000:00:07.0"},
            new String[] {"virtio-blk-pci", "0000:00:06.0", "0000:00:08.0"});

    /** What one run found: each device's decoded items, and the differences per pair. */
    public record Result(Map<String, Map<String, String>> items, Map<String, List<String>> differences, String console, long millis) {
    }

    private DeviceDifferential() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("jvmm-differential");
        try {
            Result r = run(dir);
            // every probe, on stderr, for whoever wants the values that agree too
            r.console().lines().filter(l -> l.startsWith("REG ") || l.startsWith("FEAT ") || l.startsWith("RES "))
                    .forEach(System.err::println);
            print(r, System.out);
        } finally {
            try (var walk = Files.walk(dir)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        System.exit(0);
    }

    /** One boot of the rig's guest with the four devices; {@code dir} must be an empty directory of ours. */
    public static Result run(Path dir) throws Exception {
        QemuRig rig = QemuRig.get();
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        Path qemuDisk = dir.resolve("qemu-disk.img");
        Path jvmmDisk = dir.resolve("jvmm-disk.img");
        Files.write(qemuDisk, new byte[DISK_BYTES]);
        Files.write(jvmmDisk, new byte[DISK_BYTES]);
        ServedDevice rng = ServedDevice.virtio(new RngDevice("rng0"));
        ServedDevice blk = ServedDevice.virtio(new BlkDevice(new BlkOptions("blk0", DriveOptions.raw("d0", jvmmDisk, false), null, 256),
                new RawFileBackend("blk0", jvmmDisk, false, 2), BlkMetrics.unregistered("blk0")));
        VfioUserServer rngServer = VfioUserServer.start(dir.resolve("rng.sock"), rng);
        VfioUserServer blkServer = VfioUserServer.start(dir.resolve("blk.sock"), blk);
        QemuRig.GuestRun run;
        try {
            List<String> args = List.of(
                    "-device", "virtio-rng-pci,addr=0x5",
                    "-drive", "if=none,id=qd,format=raw,file=/run/jvmm/qemu-disk.img",
                    "-device", "virtio-blk-pci,drive=qd,addr=0x6",
                    "-device", vfioUser("rng.sock", "0x7"),
                    "-device", vfioUser("blk.sock", "0x8"));
            run = rig.boot(dir, guestScript(), args, 600);
        } finally {
            rngServer.close();
            blkServer.close();
            rng.close();
            blk.close();
        }
        String console = run.console();
        Map<String, Map<String, String>> items = new LinkedHashMap<>();
        for (String[] pair : PAIRS) {
            items.put("QEMU " + pair[0], decode(console, pair[1]));
            items.put("jvmm " + pair[0], decode(console, pair[2]));
        }
        Map<String, List<String>> differences = new LinkedHashMap<>();
        for (String[] pair : PAIRS) {
            differences.put(pair[0], compare(items.get("QEMU " + pair[0]), items.get("jvmm " + pair[0])));
        }
        return new Result(items, differences, console, run.millis());
    }

    private static String vfioUser(String socket, String addr) {
        return "{\"driver\":\"vfio-user-pci\",\"addr\":\"" + addr + "\",\"socket\":{\"type\":\"unix\",\"path\":\"/run/jvmm/" + socket
                + "\"}}";
    }

    /** The items that differ, one line each: "item: QEMU x, jvmm y". */
    static List<String> compare(Map<String, String> qemu, Map<String, String> jvmm) {
        Set<String> keys = new LinkedHashSet<>(qemu.keySet());
        keys.addAll(jvmm.keySet());
        List<String> out = new ArrayList<>();
        for (String k : keys) {
            String q = qemu.getOrDefault(k, "(absent)");
            String j = jvmm.getOrDefault(k, "(absent)");
            if (!q.equals(j)) {
                out.add(k + ": QEMU " + q + ", jvmm " + j);
            }
        }
        return out;
    }

    // ---------------------------------------------------------------- the guest

    private static String guestScript() {
        StringBuilder s = new StringBuilder("""
                #!/bin/sh
                # byte/le16/le32 OFFSET: from $H, the configuration space in hex
                byte() { echo $((0x$(echo "$H" | cut -c$(($1 * 2 + 1))-$(($1 * 2 + 2))))); }
                le16() { echo $(( $(byte $1) | ($(byte $(($1 + 1))) << 8) )); }
                le32() { echo $(( $(le16 $1) | ($(le16 $(($1 + 2))) << 16) )); }
                r() { devmem $(($1)) $2; }
                w() { devmem $(($1)) $2 $(($3)); }
                probe() { echo "REG $addr $1 $2"; }
                dev() {
                    addr=$1; d=/sys/bus/pci/devices/$addr
                    [ -d "$d" ] || { echo "MISSING $addr"; return; }
                    H=$(hexdump -v -e '1/1 "%02x"' $d/config)
                    echo "CFG $addr $H"
                    i=0; while read s e f; do echo "RES $addr $i $s $e $f"; i=$((i + 1)); done < $d/resource
                    for v in $d/virtio*; do [ -e "$v/features" ] && echo "FEAT $addr $(cat $v/features)"; done
                    echo "MSIIRQS $addr $(ls $d/msi_irqs 2>/dev/null | wc -l)"
                    [ -e $d/driver ] && echo $addr > $d/driver/unbind
                    echo 1 > $d/enable
                    C=0; ISR=0; DEVCFG=0; NOTIFY=0
                    p=$(byte 52)
                    while [ "$p" -ne 0 ]; do
                        if [ "$(byte $p)" -eq 9 ]; then
                            t=$(byte $((p + 3))); bar=$(byte $((p + 4))); off=$(le32 $((p + 8)))
                            base=$(sed -n "$((bar + 1))p" $d/resource | cut -d' ' -f1)
                            case $t in
                                1) C=$((base + off)) ;;
                                2) NOTIFY=$((base + off)) ;;
                                3) ISR=$((base + off)) ;;
                                4) DEVCFG=$((base + off)) ;;
                            esac
                        fi
                        p=$(byte $((p + 1)))
                    done
                    [ "$C" -ne 0 ] || { echo "NOCOMMON $addr"; return; }
                    w C+0x14 8 0; probe status-after-reset $(r C+0x14 8)
                    for sel in 0 1 2 3; do w C 32 $sel; probe device_feature[$sel] $(r C+4 32); done
                    w C 32 0; w C+4 32 0xffffffff; probe device_feature[0]-after-write-ones $(r C+4 32)
                    probe device_feature_select-read $(r C 32)
                    nq=$(r C+0x12 16); probe num_queues $nq
                    w C+0x12 16 7; probe num_queues-after-write-7 $(r C+0x12 16)
                    probe msix_config-after-reset $(r C+0x10 16)
                    probe config_generation $(r C+0x15 8)
                    w C+0x16 16 0
                    probe queue_size[0] $(r C+0x18 16)
                    probe queue_msix_vector[0]-after-reset $(r C+0x1a 16)
                    probe queue_enable[0]-after-reset $(r C+0x1c 16)
                    probe queue_notify_off[0] $(r C+0x1e 16)
                    probe queue_desc[0]-after-reset $(r C+0x20 32)
                    w C+0x16 16 $nq; probe queue_select-read-back-num_queues $(r C+0x16 16)
                    probe queue_size[num_queues] $(r C+0x18 16)
                    w C+0x18 16 8; probe queue_size[num_queues]-after-write-8 $(r C+0x18 16)
                    w C+0x16 16 0
                    w C+0x10 16 0x7ff; probe msix_config-after-write-0x7ff $(r C+0x10 16)
                    w C+0x10 16 0; probe msix_config-after-write-0 $(r C+0x10 16)
                    w C+0x1a 16 0x7ff; probe queue_msix_vector[0]-after-write-0x7ff $(r C+0x1a 16)
                    w C+0x1a 16 1; probe queue_msix_vector[0]-after-write-1 $(r C+0x1a 16)
                    w C+0x18 16 16; probe queue_size[0]-after-write-16 $(r C+0x18 16)
                    w C+0x18 16 3; probe queue_size[0]-after-write-3 $(r C+0x18 16)
                    w C+0x18 16 0; probe queue_size[0]-after-write-0 $(r C+0x18 16)
                    w C+0x18 16 0x8000; probe queue_size[0]-after-write-0x8000 $(r C+0x18 16)
                    w C+0x08 32 1; w C+0x0c 32 1; probe driver_feature[1]-after-write-1 $(r C+0x0c 32)
                    w C+0x08 32 0; w C+0x0c 32 0xffffffff; probe driver_feature[0]-after-write-ones $(r C+0x0c 32)
                    probe driver_feature_select-read $(r C+0x08 32)
                    w C+0x14 8 1; probe status-after-write-ACK $(r C+0x14 8)
                    w C+0x14 8 3; probe status-after-write-ACK+DRIVER $(r C+0x14 8)
                    w C+0x14 8 0xb; probe status-after-FEATURES_OK-with-unoffered-features $(r C+0x14 8)
                    w C+0x14 8 0; probe status-after-second-reset $(r C+0x14 8)
                    probe driver_feature[0]-after-reset $(r C+0x0c 32)
                    w C+0x08 32 1; w C+0x0c 32 0; w C+0x08 32 0; w C+0x0c 32 0
                    w C+0x14 8 1; w C+0x14 8 3; w C+0x14 8 0xb
                    probe status-after-FEATURES_OK-without-VERSION_1 $(r C+0x14 8)
                    w C+0x14 8 0
                    w C+0x14 8 1; w C+0x14 8 3; w C+0x14 8 0x83; probe status-after-write-ACK+DRIVER+FAILED $(r C+0x14 8)
                    w C+0x14 8 0
                    [ "$ISR" -ne 0 ] && probe isr $(r $ISR 8) && probe isr-second-read $(r $ISR 8)
                    if [ "$DEVCFG" -ne 0 ]; then
                        for o in 0 4 8 12 16 20 24 28 32 36 40 44 48 52 56 60; do probe devcfg+$o $(r $DEVCFG+$o 32); done
                    fi
                    probe common+0x38 $(r C+0x38 32)
                    probe common+0x3c $(r C+0x3c 32)
                    echo "DONE $addr"
                }
                """);
        for (String[] pair : PAIRS) {
            s.append("dev ").append(pair[1]).append('\n').append("dev ").append(pair[2]).append('\n');
        }
        s.append("exit 0\n");
        return s.toString();
    }

    // ---------------------------------------------------------------- decoding

    private static final Map<Integer, String> CAP_NAMES = Map.of(0x01, "power management", 0x05, "MSI", 0x09, "vendor (virtio)",
            0x10, "PCI Express", 0x11, "MSI-X");
    private static final Map<Integer, String> VIRTIO_CFG = Map.of(1, "common", 2, "notify", 3, "isr", 4, "device", 5, "pci-cfg",
            8, "shared-memory", 9, "vendor");
    private static final Map<Integer, String> FEATURE_NAMES = new TreeMap<>(Map.ofEntries(
            Map.entry(24, "NOTIFY_ON_EMPTY"), Map.entry(27, "ANY_LAYOUT"), Map.entry(28, "RING_INDIRECT_DESC"),
            Map.entry(29, "RING_EVENT_IDX"), Map.entry(32, "VERSION_1"), Map.entry(33, "ACCESS_PLATFORM"), Map.entry(34, "RING_PACKED"),
            Map.entry(35, "IN_ORDER"), Map.entry(36, "ORDER_PLATFORM"), Map.entry(37, "SR_IOV"), Map.entry(38, "NOTIFICATION_DATA"),
            Map.entry(39, "NOTIF_CONFIG_DATA"), Map.entry(40, "RING_RESET"), Map.entry(41, "ADMIN_VQ")));
    private static final Map<Integer, String> BLK_FEATURE_NAMES = Map.ofEntries(
            Map.entry(0, "BARRIER"), Map.entry(1, "SIZE_MAX"), Map.entry(2, "SEG_MAX"), Map.entry(4, "GEOMETRY"), Map.entry(5, "RO"),
            Map.entry(6, "BLK_SIZE"), Map.entry(7, "SCSI"), Map.entry(9, "FLUSH"), Map.entry(10, "TOPOLOGY"), Map.entry(11, "CONFIG_WCE"),
            Map.entry(12, "MQ"), Map.entry(13, "DISCARD"), Map.entry(14, "WRITE_ZEROES"), Map.entry(15, "LIFETIME"),
            Map.entry(16, "SECURE_ERASE"), Map.entry(17, "ZONED"));

    /** The named items of one device from the guest's console lines for {@code addr}. */
    static Map<String, String> decode(String console, String addr) {
        Map<String, String> items = new LinkedHashMap<>();
        byte[] cfg = null;
        long[] offered = new long[4];
        boolean blk = false;
        String negotiated = null;
        for (String line : console.lines().toList()) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 2 || !f[1].equals(addr)) {
                continue;
            }
            switch (f[0]) {
                case "MISSING" -> items.put("present", "no");
                case "CFG" -> cfg = java.util.HexFormat.of().parseHex(f[2]);
                case "RES" -> {
                    long start = Long.decode(f[3]);
                    long end = Long.decode(f[4]);
                    long flags = Long.decode(f[5]);
                    if (start != 0 || end != 0) {
                        items.put("BAR" + f[2], String.format(Locale.ROOT, "%s, %d bytes%s", (flags & 0x100) != 0 ? "I/O" : "memory",
                                end - start + 1, (flags & 0x100000) != 0 ? ", 64-bit" : "") + ((flags & 0x2000) != 0 ? ", prefetchable" : ""));
                    }
                }
                case "FEAT" -> {
                    negotiated = f[2];
                    items.put("features negotiated by Linux's driver", "");   // named below, once the device type is known
                }
                case "MSIIRQS" -> items.put("MSI-X vectors Linux's driver used", f[2]);
                case "REG" -> {
                    items.put("register " + f[2], f.length > 3 ? f[3] : "(no value)");
                    if (f[2].startsWith("device_feature[") && f[2].endsWith("]") && f.length > 3) {
                        int sel = Integer.parseInt(f[2].substring(15, f[2].length() - 1));
                        offered[sel] = Long.decode(f[3]);
                    }
                }
                case "NOCOMMON" -> items.put("virtio common configuration", "not found");
                case "DONE" -> items.put("probes", "done");
                default -> {
                }
            }
        }
        if (cfg != null) {
            blk = u16(cfg, 2) == 0x1042 || u16(cfg, 2) == 0x1001;
            header(cfg, items);
        }
        if (negotiated != null) {
            items.put("features negotiated by Linux's driver", featureList(bits(negotiated), blk));
        }
        // sixteen words of device configuration that all read the same are one item
        List<String> words = items.keySet().stream().filter(k -> k.startsWith("register devcfg+")).toList();
        if (words.size() > 1 && words.stream().map(items::get).distinct().count() == 1) {
            String v = items.get(words.get(0));
            words.forEach(items::remove);
            items.put("register devcfg+0..+60 (every word)", v);
        }
        long low = offered[0] & 0xffffffffL;
        long high = offered[1] & 0xffffffffL;
        if (items.containsKey("register device_feature[0]")) {
            long all = low | (high << 32);
            for (int bit = 0; bit < 64; bit++) {
                String name = name(bit, blk);
                items.put("offered feature " + name, (all >>> bit & 1) != 0 ? "offered" : "not offered");
            }
        }
        return items;
    }

    private static String name(int bit, boolean blk) {
        String n = FEATURE_NAMES.get(bit);
        if (n == null && blk) {
            n = BLK_FEATURE_NAMES.get(bit);
        }
        return n == null ? "bit " + bit : n + " (" + bit + ")";
    }

    /** "0110..." as Linux's sysfs prints it (bit 0 first) to bit numbers. */
    private static long bits(String s) {
        long v = 0;
        for (int i = 0; i < Math.min(64, s.length()); i++) {
            if (s.charAt(i) == '1') {
                v |= 1L << i;
            }
        }
        return v;
    }

    private static String featureList(long v, boolean blk) {
        List<String> out = new ArrayList<>();
        for (int bit = 0; bit < 64; bit++) {
            if ((v >>> bit & 1) != 0) {
                out.add(name(bit, blk));
            }
        }
        return String.join(" ", out);
    }

    private static int u8(byte[] b, int o) {
        return b[o] & 0xff;
    }

    private static int u16(byte[] b, int o) {
        return u8(b, o) | u8(b, o + 1) << 8;
    }

    private static long u32(byte[] b, int o) {
        return u16(b, o) | (long) u16(b, o + 2) << 16;
    }

    private static String hex(long v, int digits) {
        return String.format(Locale.ROOT, "0x%0" + digits + "x", v);
    }

    /** The standard header and the capability chain. */
    private static void header(byte[] c, Map<String, String> items) {
        items.put("config space size (sysfs)", c.length + " bytes");
        items.put("vendor:device", hex(u16(c, 0), 4) + ":" + hex(u16(c, 2), 4));
        items.put("subsystem vendor:device", hex(u16(c, 0x2c), 4) + ":" + hex(u16(c, 0x2e), 4));
        items.put("class code", hex(u8(c, 0x0b), 2) + hex(u8(c, 0x0a), 2).substring(2) + hex(u8(c, 0x09), 2).substring(2));
        items.put("revision", hex(u8(c, 8), 2));
        items.put("header type", hex(u8(c, 0x0e), 2));
        items.put("status register (capabilities list, 66 MHz, fast back-to-back, DEVSEL)", hex(u16(c, 6) & 0x06b0, 4));
        items.put("interrupt pin", String.valueOf(u8(c, 0x3d)));
        items.put("cache line size", String.valueOf(u8(c, 0x0c)));
        items.put("latency timer", String.valueOf(u8(c, 0x0d)));
        items.put("min grant / max latency", u8(c, 0x3e) + " / " + u8(c, 0x3f));
        items.put("expansion ROM BAR", hex(u32(c, 0x30), 8));
        List<String> chain = new ArrayList<>();
        int p = (u16(c, 6) & 0x10) != 0 ? u8(c, 0x34) : 0;
        int guard = 0;
        Map<String, Integer> seen = new java.util.HashMap<>();
        while (p != 0 && p + 1 < c.length && guard++ < 48) {
            int id = u8(c, p);
            String name = CAP_NAMES.getOrDefault(id, hex(id, 2));
            if (id == 0x09) {
                int type = u8(c, p + 3);
                String t = VIRTIO_CFG.getOrDefault(type, "type " + type);
                chain.add("virtio " + t);
                int nth = seen.merge(t, 1, Integer::sum);
                String key = "capability virtio " + t + (nth > 1 ? " #" + nth : "");
                String v = "cap length " + u8(c, p + 2) + ", BAR " + u8(c, p + 4) + ", offset " + hex(u32(c, p + 8), 4) + ", length "
                        + hex(u32(c, p + 12), 4);
                if (type == 2) {
                    v += ", notify_off_multiplier " + u32(c, p + 16);
                }
                items.put(key, v);
            } else if (id == 0x11) {
                chain.add(name);
                int control = u16(c, p + 2);
                items.put("capability MSI-X", "table size " + ((control & 0x7ff) + 1) + ", table in BAR " + (u32(c, p + 4) & 7)
                        + " at " + hex(u32(c, p + 4) & ~7L, 4) + ", PBA in BAR " + (u32(c, p + 8) & 7) + " at " + hex(u32(c, p + 8) & ~7L, 4)
                        + ", control after unbind " + hex(control & 0xc000, 4));
            } else {
                chain.add(name);
                items.put("capability " + name, "present");
            }
            p = u8(c, p + 1);
        }
        items.put("capability chain (order)", String.join(", ", chain));
    }

    // ---------------------------------------------------------------- output

    static void print(Result r, PrintStream out) {
        out.println("Differential run: QEMU 11.1's own devices against jvmm's served over vfio-user, in one guest of the vfio-user rig"
                + " (Debian's kernel, TCG), " + r.millis() / 1000 + " s.");
        out.println();
        for (Map.Entry<String, List<String>> e : r.differences().entrySet()) {
            Map<String, String> q = r.items().get("QEMU " + e.getKey());
            out.println("### " + e.getKey() + " (" + e.getValue().size() + " differences in " + q.size() + " items)");
            out.println();
            for (String d : e.getValue()) {
                out.println("- " + d);
            }
            out.println();
        }
    }
}
