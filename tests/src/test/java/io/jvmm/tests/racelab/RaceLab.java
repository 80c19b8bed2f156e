package io.jvmm.tests.racelab;

import io.jvmm.devices.nbd.NbdServer;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The main of {@code scripts/race-lab}: every seed race on the historic software, on the fixed
 * upstream and on jvmm (default, and with the switch that brings the old behaviour back), with
 * real volumes, printed as one Markdown table on stdout (progress on stderr). Every number comes
 * from a run made by this invocation; a cell that cannot be measured says why.
 *
 * <pre>
 * RaceLab [--runs=N] [--flips=N] [--rounds=N] [--jvmm-runs=N] [--jvmm-flips=N] [--jvmm-rounds=N]
 *         [--max-losses=N] [--rows=a,b,c,d]
 * </pre>
 *
 * --runs QEMU boots per QEMU cell group (each boot runs race (b)'s rounds, then race (a)'s
 * flips, on two devices with their own back-ends); --jvmm-runs no-CPU machines per jvmm cell;
 * --max-losses ends a run early after that many losses (each costs the bound plus recovery).
 * Races (a) and (b) run without any widening: the back-end applies every message as fast as it
 * can; race (b)'s back-end drops kicks on a disabled ring (as back-ends without rule 3 do).
 */
public final class RaceLab {
    private static final PrintStream progress = System.err;

    private int runs = 2;
    private int flips = 100;
    private int rounds = 10;
    private int jvmmRuns = 3;
    private int jvmmFlips = 1000;
    private int jvmmRounds = 100;
    private int maxLosses = 20;
    private final Set<String> rows = new LinkedHashSet<>(List.of("a", "b", "c", "d"));
    private final List<Row> table = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    private Path work;

    /** One measured cell: losses in trials over runs, and what the sessions agreed on. */
    record Cell(String what, long lost, long trials, int runs, String unit, Set<String> protocol, String text) {
        static Cell measured(String what, long lost, long trials, int runs, String unit, Set<String> protocol) {
            return new Cell(what, lost, trials, runs, unit, protocol, null);
        }

        /** A cell with no measurement, and why. */
        static Cell none(String why) {
            return new Cell(null, 0, 0, 0, null, Set.of(), why);
        }

        String show() {
            if (text != null) {
                return text;
            }
            // a start that never completes is "hung", anything else "lost"
            return (what == null ? "" : what + ": ") + lost + (unit.equals("starts") ? " hung / " : " lost / ") + trials + " " + unit;
        }

        String rate() {
            if (text != null || trials == 0) {
                return "-";
            }
            return String.format(Locale.ROOT, "%.1f", 1000.0 * lost / trials);
        }
    }

    record Row(String race, Cell historic, Cell fixed, Cell jvmm, Cell jvmmSwitch) {
    }

    /** What the vhost-user sessions of one cell agreed on and asked for, summed from the back-ends' statistics. */
    static final class Sessions {
        final Set<String> protocol = new LinkedHashSet<>();
        long call;
        long callNeedReply;
        long enable;
        long enableNeedReply;
        long getFeatures;

        Sessions add(String stats) {
            protocol.add(BackendStatsLine.value(stats, "protocol"));
            long[] c = BackendStatsLine.requests(stats, "SET_VRING_CALL");
            long[] e = BackendStatsLine.requests(stats, "SET_VRING_ENABLE");
            call += c[0];
            callNeedReply += c[1];
            enable += e[0];
            enableNeedReply += e[1];
            getFeatures += BackendStatsLine.requests(stats, "GET_FEATURES")[0];
            return this;
        }

        Set<String> describe() {
            return Set.of("protocol features " + String.join(" or ", protocol) + "; NEED_REPLY on " + callNeedReply + " of " + call
                    + " SET_VRING_CALL and " + enableNeedReply + " of " + enable + " SET_VRING_ENABLE; " + getFeatures + " GET_FEATURES");
        }
    }

    public static void main(String[] args) throws Exception {
        RaceLab lab = new RaceLab();
        for (String a : args) {
            String v = a.contains("=") ? a.substring(a.indexOf('=') + 1) : "";
            switch (a.contains("=") ? a.substring(0, a.indexOf('=')) : a) {
                case "--runs" -> lab.runs = Integer.parseInt(v);
                case "--flips" -> lab.flips = Integer.parseInt(v);
                case "--rounds" -> lab.rounds = Integer.parseInt(v);
                case "--jvmm-runs" -> lab.jvmmRuns = Integer.parseInt(v);
                case "--jvmm-flips" -> lab.jvmmFlips = Integer.parseInt(v);
                case "--jvmm-rounds" -> lab.jvmmRounds = Integer.parseInt(v);
                case "--max-losses" -> lab.maxLosses = Integer.parseInt(v);
                case "--rows" -> {
                    lab.rows.clear();
                    lab.rows.addAll(List.of(v.split(",")));
                }
                default -> {
                    System.err.println("race-lab: unknown argument " + a);
                    System.exit(2);
                }
            }
        }
        lab.work = Files.createTempDirectory("jvmm-race-lab");
        try {
            lab.runAll();
        } finally {
            deleteTree(lab.work);
        }
        lab.print(System.out);
        System.exit(0);   // back-end and QEMU reader threads are gone; do not wait for stray daemons
    }

    private void runAll() throws Exception {
        if (rows.contains("a") || rows.contains("b")) {
            racesAandB(true);
            racesAandB(false);
        }
        if (rows.contains("c")) {
            rowC();
        }
        if (rows.contains("d")) {
            rowD9p();
            rowDIvshmem();
        }
    }

    private Path dir(String name) throws Exception {
        return Files.createDirectory(work.resolve(name + "-" + System.nanoTime()));
    }

    // ---------------------------------------------------------------- races (a) and (b)

    /** Races (a) and (b) with a back-end that offers REPLY_ACK, or one that hides it. */
    private void racesAandB(boolean replyAck) throws Exception {
        BackendFaults a = replyAck ? BackendFaults.NONE : RaceLabFaults.withoutReplyAck(BackendFaults.NONE);
        BackendFaults b = replyAck ? RaceLabFaults.DROPPING_KICKS : RaceLabFaults.withoutReplyAck(RaceLabFaults.DROPPING_KICKS);
        String backend = replyAck ? "back-end offers REPLY_ACK" : "back-end hides REPLY_ACK";
        Cell[] historic = qemuCells(QemuRaces.Qemu.HISTORIC, a, b);
        Cell[] fixed = qemuCells(QemuRaces.Qemu.FIXED, a, b);
        Cell flipsOn = jvmmFlips(a, true);
        Cell flipsOff = jvmmFlips(a, false);
        Cell roundsOn = jvmmRounds(b, true);
        Cell roundsOff = jvmmRounds(b, false);
        if (rows.contains("a")) {
            table.add(new Row("(a) SET_VRING_CALL on unmask, " + backend, historic[0], fixed[0], flipsOn, flipsOff));
        }
        if (rows.contains("b")) {
            table.add(new Row("(b) SET_VRING_ENABLE vs first kick, " + backend + ", drops kicks on a disabled ring", historic[1],
                    fixed[1], roundsOn, roundsOff));
        }
    }

    /** {@link #runs} boots of one QEMU: race (a)'s cell and race (b)'s. */
    private Cell[] qemuCells(QemuRaces.Qemu qemu, BackendFaults a, BackendFaults b) throws Exception {
        long flipsDone = 0;
        long flipsLost = 0;
        long roundsDone = 0;
        long roundsLost = 0;
        int stuck = 0;
        Sessions protoA = new Sessions();
        Sessions protoB = new Sessions();
        String version = null;
        for (int i = 0; i < runs; i++) {
            progress.printf("[race-lab] %s run %d/%d: %d rounds of race (b), %d flips of race (a), back-ends %s / %s%n", qemu.label,
                    i + 1, runs, rows.contains("b") ? rounds : 0, rows.contains("a") ? flips : 0, a.format(), b.format());
            QemuRaces.Run r = QemuRaces.run(qemu, dir("qemu"), a, b, new RaceGuestScripts.Plan(rows.contains("b") ? rounds : 0, maxLosses,
                    rows.contains("a") ? flips : 0, maxLosses));
            GuestRaceReport g = r.report();
            version = r.qemuVersion();
            if (g.error() != null || (rows.contains("a") && g.flips() == null) || (rows.contains("b") && g.rounds() == null)) {
                throw new AssertionError(qemu.label + ": the guest did not report (" + g.error() + "):\n"
                        + io.jvmm.tests.vfiouser.QemuRig.tail(r.console()));
            }
            if (g.flips() != null) {
                flipsDone += g.flips();
                flipsLost += g.flipsLost();
                stuck += g.stuck() ? 1 : 0;
            }
            if (g.rounds() != null) {
                roundsDone += g.rounds();
                roundsLost += g.roundsLost();
            }
            protoA.add(r.backendStatsA());
            protoB.add(r.backendStatsB());
            progress.printf("[race-lab]   %s: (b) %s lost of %s rounds, (a) %s lost of %s flips%s (%d s)%n", r.qemuVersion(),
                    g.roundsLost(), g.rounds(), g.flipsLost(), g.flips(), g.stuck() ? ", stuck" : "", r.millis() / 1000);
        }
        if (flipsDone > 0 && protoA.call < flipsDone) {
            notes.add(qemu.label + " (back-end " + a.format() + "): only " + protoA.call + " SET_VRING_CALL in " + flipsDone
                    + " flips: it did not switch the call fd on mask and unmask, so race (a)'s window never opened in this"
                    + " configuration (TCG, no irqfd); its 0 says nothing about the fix.");
        }
        if (stuck > 0) {
            notes.add(qemu.label + ": in " + stuck + " run(s) the reader of race (a) could not be revived after a loss; the run ended there.");
        }
        String label = qemu == QemuRaces.Qemu.HISTORIC ? "QEMU " + shortVersion(version) : "QEMU " + shortVersion(version);
        return new Cell[] {Cell.measured(label, flipsLost, flipsDone, runs, "flips", protoA.describe()),
                Cell.measured(label, roundsLost, roundsDone, runs, "rounds", protoB.describe())};
    }

    private static String shortVersion(String version) {
        if (version == null) {
            return "?";
        }
        String v = version.startsWith("1:") ? version.substring(2) : version;
        int cut = 0;
        while (cut < v.length() && (Character.isDigit(v.charAt(cut)) || v.charAt(cut) == '.')) {
            cut++;
        }
        return v.substring(0, cut);
    }

    /** One jvmm run of race (a) or (b): trials done, lost, the back-end's statistics, and a line for the progress. */
    private record JvmmRun(long done, long lost, String backendStats, String describe) {
    }

    private interface JvmmRunner {
        JvmmRun run(Path dir) throws Exception;
    }

    private Cell jvmmFlips(BackendFaults a, boolean sync) throws Exception {
        return jvmmCell("a", jvmmFlips, "flips", a, sync, d -> {
            JvmmRaces.Flips r = JvmmRaces.affinityFlips(d, a, sync, jvmmFlips, maxLosses);
            return new JvmmRun(r.flips(), r.lost(), r.backendStats(), String.format(Locale.ROOT, "%d lost of %d flips (%d completions, %d ms)%s",
                    r.lost(), r.flips(), r.completions(), r.millis(), r.stuck() ? ", stuck" : ""));
        });
    }

    private Cell jvmmRounds(BackendFaults b, boolean sync) throws Exception {
        return jvmmCell("b", jvmmRounds, "rounds", b, sync, d -> {
            JvmmRaces.Rounds r = JvmmRaces.firstKickRounds(d, b, sync, jvmmRounds, maxLosses);
            return new JvmmRun(r.rounds(), r.lost(), r.backendStats(),
                    String.format(Locale.ROOT, "%d lost of %d rounds (%d ms)", r.lost(), r.rounds(), r.millis()));
        });
    }

    /** {@link #jvmmRuns} no-CPU machines of race {@code race}, summed into a cell. */
    private Cell jvmmCell(String race, int size, String unit, BackendFaults faults, boolean sync, JvmmRunner runner) throws Exception {
        if (!rows.contains(race)) {
            return Cell.none("-");
        }
        long done = 0;
        long lost = 0;
        Sessions proto = new Sessions();
        for (int i = 0; i < jvmmRuns; i++) {
            progress.printf("[race-lab] jvmm (no-CPU machine, x-sync-vring=%s) race (%s) run %d/%d: %d %s, back-end %s%n",
                    sync ? "on" : "off", race, i + 1, jvmmRuns, size, unit, faults.format());
            JvmmRun r = runner.run(dir("jvmm-" + race));
            done += r.done();
            lost += r.lost();
            proto.add(r.backendStats());
            progress.printf("[race-lab]   %s%n", r.describe());
        }
        return Cell.measured(sync ? null : "x-sync-vring=off", lost, done, jvmmRuns, unit, proto.describe());
    }

    // ---------------------------------------------------------------- race (c): NBD served and consumed in one process

    /**
     * Race (c): qemu-storage-daemon serving an NBD export and opening a qcow2 backed by it in the
     * same process: Debian 12's 7.2 (host) and trixie-backports' 11.1 (from its qemu-utils package,
     * run in the rig's root; path in the system property {@value #FIXED_QSD_PROPERTY}, set by
     * scripts/race-lab); jvmm by default and with {@code x-nbd-listener=main-loop}.
     */
    private void rowC() throws Exception {
        Cell historic;
        if (Files.isExecutable(QsdNbdSelfDeadlock.QSD) && Files.isExecutable(QsdNbdSelfDeadlock.QEMU_IMG)) {
            int hung = 0;
            int ignoredTerm = 0;
            for (int i = 0; i < runs; i++) {
                progress.printf("[race-lab] qemu-storage-daemon 7.2 self-served NBD export, run %d/%d%n", i + 1, runs);
                QsdNbdSelfDeadlock.Outcome o = QsdNbdSelfDeadlock.selfServed(dir("qsd"), Duration.ofSeconds(10));
                hung += o.completed() ? 0 : 1;
                ignoredTerm += o.ignoredSigterm() ? 1 : 0;
                QsdNbdSelfDeadlock.Outcome control = QsdNbdSelfDeadlock.separateServer(dir("qsd2"), Duration.ofSeconds(10));
                if (!control.completed()) {
                    notes.add("(c) control run " + (i + 1) + ": the two-daemon set-up did not start either: " + control);
                }
            }
            historic = Cell.measured("qemu-storage-daemon " + shortVersion(QsdNbdSelfDeadlock.version().replaceAll(".*version ", "")),
                    hung, runs, runs, "starts", Set.of());
            notes.add("(c) qemu-storage-daemon: hung = did not start within 10 s (no pid file, QMP silent); it ignored SIGTERM in "
                    + ignoredTerm + " of " + runs + " runs and was ended with SIGKILL; the same halves in two daemons started every time"
                    + " (control).");
        } else {
            historic = Cell.none("not run: qemu-storage-daemon / qemu-img not installed");
        }
        table.add(new Row("(c) NBD served and consumed in one process", historic, rowCFixed(),
                jvmmNbd(NbdServer.Listener.OWN_LOOP), jvmmNbd(NbdServer.Listener.MAIN_LOOP)));
    }

    /** System property naming trixie-backports' qemu-storage-daemon binary (scripts/race-lab extracts it). */
    static final String FIXED_QSD_PROPERTY = "jvmm.racelab.fixedQsd";

    private Cell rowCFixed() throws Exception {
        String binary = System.getProperty(FIXED_QSD_PROPERTY);
        if (binary == null || !Files.isExecutable(Path.of(binary))) {
            return Cell.none("not run: no qemu-storage-daemon 11.1 (scripts/race-lab takes it from trixie-backports' qemu-utils)");
        }
        int hung = 0;
        String version = null;
        for (int i = 0; i < runs; i++) {
            progress.printf("[race-lab] qemu-storage-daemon 11.1 (rig) self-served NBD export, run %d/%d%n", i + 1, runs);
            Path d = dir("qsd11");
            QsdNbdSelfDeadlock.Daemon daemon = QsdNbdSelfDeadlock.Daemon.inRig(Path.of(binary), d);
            version = daemon.version();
            QsdNbdSelfDeadlock.Outcome o = QsdNbdSelfDeadlock.selfServed(daemon, d, Duration.ofSeconds(10));
            hung += o.completed() ? 0 : 1;
            progress.printf("[race-lab]   %s (%d ms)%n", o.completed() ? "started" : "hung", o.millis());
        }
        return Cell.measured("qemu-storage-daemon " + shortVersion(version.replaceAll(".*version ", "")), hung, runs, runs,
                "starts", Set.of());
    }

    /** Race (c), a jvmm cell: {@link #jvmmRuns} times 3 starts with the NBD listener where {@code placement} says. */
    private Cell jvmmNbd(NbdServer.Listener placement) throws Exception {
        int n = jvmmRuns * 3;
        int hung = 0;
        int named = 0;
        for (int i = 0; i < n; i++) {
            progress.printf("[race-lab] jvmm NBD served and consumed in one process, x-nbd-listener=%s, start %d/%d%n", placement.text(),
                    i + 1, n);
            JvmmNbdSelfServed.Outcome o = JvmmNbdSelfServed.start(dir("jvmm-c"), placement, Duration.ofSeconds(5));
            hung += o.completed() ? 0 : 1;
            named += o.watchdogNamedListener() ? 1 : 0;
            progress.printf("[race-lab]   %s (%d ms)%s%n", o.completed() ? "opened" : "hung: " + o.error(), o.millis(),
                    o.watchdogNamedListener() ? ", the watchdog named the listener" : "");
        }
        if (placement == NbdServer.Listener.MAIN_LOOP) {
            notes.add("(c) jvmm x-nbd-listener=main-loop: the open gave up at its 5 s timeout in " + hung + " of " + n
                    + " starts; the watchdog reported the stalled wait naming the NBD listener in " + named + " of them.");
        }
        return Cell.measured(placement == NbdServer.Listener.OWN_LOOP ? null : "x-nbd-listener=main-loop", hung, n, n, "starts",
                Set.of());
    }

    // ---------------------------------------------------------------- race (d): 9P multiple Tflush, ivshmem set-up

    /** ROW (d), 9P: jvmm's virtio-9p-pci by default and with {@code x-flush=historic} (two Tflush per victim, no delay added). */
    private void rowD9p() throws Exception {
        table.add(new Row("(d) 9P multiple Tflush (two per request, at once)", Cell.none("n/a (QEMU before 2.9 is not packaged)"),
                Cell.none("not run"), jvmmP9(false), jvmmP9(true)));
    }

    private Cell jvmmP9(boolean historic) throws Exception {
        long done = 0;
        long lost = 0;
        long leaked = 0;
        for (int i = 0; i < jvmmRuns; i++) {
            progress.printf("[race-lab] jvmm virtio-9p-pci%s, run %d/%d: %d double flushes%n", historic ? " x-flush=historic" : "", i + 1,
                    jvmmRuns, jvmmRounds);
            JvmmP9DoubleFlush.Rounds r = JvmmP9DoubleFlush.run(dir("jvmm-9p"), historic, jvmmRounds, maxLosses);
            done += r.rounds();
            lost += r.lost();
            leaked += r.leakedSlots();
            progress.printf("[race-lab]   %d lost of %d, %d ring slots leaked (%d ms)%n", r.lost(), r.rounds(), r.leakedSlots(), r.millis());
        }
        if (historic) {
            notes.add("(d) 9P x-flush=historic: " + leaked + " ring slot(s) never returned (one per dropped Tflush).");
        }
        return Cell.measured(historic ? "x-flush=historic" : null, lost, done, jvmmRuns, "double flushes", Set.of());
    }

    /** ROW (d), ivshmem: jvmm by default and with {@code x-async-setup=on}, against jvmm's ivshmem server. */
    private void rowDIvshmem() throws Exception {
        int n = Math.max(jvmmRuns * 10, 10);
        progress.printf("[race-lab] jvmm ivshmem-doorbell set-up, %d machines each way%n", n);
        int lostSync = IvshmemSetupRace.lostRuns(dir("iv"), false, n);
        int lostAsync = IvshmemSetupRace.lostRuns(dir("iv-async"), true, n);
        table.add(new Row("(d) ivshmem set-up (a driver starting the moment the device exists)",
                Cell.none("n/a (QEMU before 2.6 is not packaged)"), Cell.none("not run"),
                Cell.measured(null, lostSync, n, n, "machines", Set.of()),
                Cell.measured("x-async-setup=on", lostAsync, n, n, "machines", Set.of())));
    }

    // ---------------------------------------------------------------- output

    private void print(PrintStream out) {
        out.println("Race lab, " + LocalDate.now() + ": " + runs + " QEMU boot(s) per QEMU cell (" + flips + " flips of race (a) and "
                + rounds + " rounds of race (b) each), " + jvmmRuns + " no-CPU machine(s) per jvmm cell (" + jvmmFlips + " flips or "
                + jvmmRounds + " rounds each); a run stops after " + maxLosses + " losses. Loss: nothing within "
                + (RaceGuestScripts.SUSPECT_MS + RaceGuestScripts.GRACE_MS) + " ms. No window widened.");
        out.println();
        out.println("| race | historic software | fixed upstream | jvmm default | jvmm with the switch | runs | rate (lost or hung per 1,000) |");
        out.println("| --- | --- | --- | --- | --- | --- | --- |");
        for (Row r : table) {
            Cell[] cells = {r.historic(), r.fixed(), r.jvmm(), r.jvmmSwitch()};
            StringBuilder runsCol = new StringBuilder();
            StringBuilder rateCol = new StringBuilder();
            for (Cell c : cells) {
                runsCol.append(runsCol.length() > 0 ? " / " : "").append(c.text() != null ? "-" : Integer.toString(c.runs()));
                rateCol.append(rateCol.length() > 0 ? " / " : "").append(c.rate());
            }
            out.printf("| %s | %s | %s | %s | %s | %s | %s |%n", r.race(), r.historic().show(), r.fixed().show(), r.jvmm().show(),
                    r.jvmmSwitch().show(), runsCol, rateCol);
        }
        out.println();
        out.println("Runs and rates are given per cell, in column order. What each vhost-user session agreed on and asked for "
                + "(from the back-end's own count):");
        out.println();
        for (Row r : table) {
            String[] names = {"historic", "fixed upstream", "jvmm default", "jvmm with the switch"};
            Cell[] cells = {r.historic(), r.fixed(), r.jvmm(), r.jvmmSwitch()};
            for (int i = 0; i < cells.length; i++) {
                if (!cells[i].protocol().isEmpty()) {
                    out.println("- " + r.race() + ", " + names[i] + ": " + String.join("; ", cells[i].protocol()));
                }
            }
        }
        for (String n : notes) {
            out.println("- " + n);
        }
    }

    private static void deleteTree(Path root) {
        try (var walk = Files.walk(root)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (Exception e) {
            progress.println("[race-lab] could not remove " + root + ": " + e);
        }
    }
}
