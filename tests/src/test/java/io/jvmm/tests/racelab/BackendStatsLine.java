package io.jvmm.tests.racelab;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads the back-end's session statistics line ({@code key=value} words; see {@code VhostUserBackend.statsLine}). */
public final class BackendStatsLine {
    private BackendStatsLine() {
    }

    /** The value of {@code key}, or null. */
    public static String value(String line, String key) {
        if (line == null) {
            return null;
        }
        Matcher m = Pattern.compile("(?:^| )" + Pattern.quote(key) + "=(\\S+)").matcher(line);
        return m.find() ? m.group(1) : null;
    }

    public static long number(String line, String key) {
        String v = value(line, key);
        if (v == null) {
            throw new IllegalArgumentException("no " + key + "= in back-end statistics: " + line);
        }
        return Long.parseLong(v);
    }

    /** How many requests of {@code type} (e.g. "SET_VRING_CALL") arrived, and how many of them with NEED_REPLY: {count, needReply}. */
    public static long[] requests(String line, String type) {
        String all = value(line, "requests");
        if (all != null) {
            for (String item : all.split(",")) {
                if (item.startsWith(type + ":")) {
                    String[] n = item.substring(type.length() + 1).split("/");
                    return new long[] {Long.parseLong(n[0]), Long.parseLong(n[1])};
                }
            }
        }
        return new long[] {0, 0};
    }
}
