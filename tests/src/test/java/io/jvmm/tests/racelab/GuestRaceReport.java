package io.jvmm.tests.racelab;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a guest run of {@link RaceGuestScripts} printed: the result lines of races (a) and (b),
 * and any error the script reported. A phase that did not run (or did not finish) is absent.
 */
public record GuestRaceReport(Integer flips, Integer flipsLost, boolean stuck, Integer rounds, Integer roundsLost, String error,
                              String device) {
    private static final Pattern A = Pattern.compile("^RACE-A flips=(\\d+) lost=(\\d+) stuck=(\\d)$", Pattern.MULTILINE);
    private static final Pattern B = Pattern.compile("^RACE-B rounds=(\\d+) lost=(\\d+)$", Pattern.MULTILINE);
    private static final Pattern ERROR = Pattern.compile("^RACE-ERROR (.*)$", Pattern.MULTILINE);
    private static final Pattern DEVICE = Pattern.compile("^RACE-DEVICE (.*)$", Pattern.MULTILINE);

    public static GuestRaceReport parse(String console) {
        Matcher a = A.matcher(console);
        Matcher b = B.matcher(console);
        Matcher e = ERROR.matcher(console);
        Matcher d = DEVICE.matcher(console);
        boolean hasA = a.find();
        boolean hasB = b.find();
        return new GuestRaceReport(hasA ? Integer.valueOf(a.group(1)) : null, hasA ? Integer.valueOf(a.group(2)) : null,
                hasA && a.group(3).equals("1"), hasB ? Integer.valueOf(b.group(1)) : null, hasB ? Integer.valueOf(b.group(2)) : null,
                e.find() ? e.group(1) : null, d.find() ? d.group(1) : null);
    }
}
