package io.jvmm.platform.options;

/** QEMU-style sizes: 512, 512M, 2G, 64k ... */
public final class Sizes {
    public static final long KIB = 1024;
    public static final long MIB = 1024 * KIB;
    public static final long GIB = 1024 * MIB;

    private Sizes() {
    }

    /** Parses a size; a bare number is in {@code defaultUnit} bytes (-m uses MiB, like QEMU). */
    public static long parse(String what, String text, long defaultUnit) {
        String t = text.trim();
        if (t.isEmpty()) {
            throw new UserError(what + ": empty size");
        }
        if (!t.matches("[0-9]+[a-zA-Z]?")) {
            throw new UserError(what + ": '" + text + "' is not a size (e.g. 512M, 2G)");
        }
        long unit = defaultUnit;
        char last = Character.toUpperCase(t.charAt(t.length() - 1));
        if (Character.isLetter(last)) {
            switch (last) {
                case 'B': unit = 1; break;
                case 'K': unit = KIB; break;
                case 'M': unit = MIB; break;
                case 'G': unit = GIB; break;
                case 'T': unit = 1024 * GIB; break;
                default: throw new UserError(what + ": unknown size suffix in '" + text + "' (use K, M, G or T)");
            }
            t = t.substring(0, t.length() - 1);
        }
        try {
            long n = Long.parseLong(t);
            if (n < 0 || n > Long.MAX_VALUE / unit) {
                throw new UserError(what + ": size '" + text + "' is out of range");
            }
            return n * unit;
        } catch (NumberFormatException e) {
            throw new UserError(what + ": '" + text + "' is not a size (e.g. 512M, 2G)");
        }
    }

    public static String format(long bytes) {
        if (bytes % GIB == 0) {
            return bytes / GIB + " GiB";
        }
        if (bytes % MIB == 0) {
            return bytes / MIB + " MiB";
        }
        return bytes + " bytes";
    }
}
