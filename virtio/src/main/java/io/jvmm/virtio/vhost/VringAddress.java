package io.jvmm.virtio.vhost;

/**
 * struct vhost_vring_addr (SET_VRING_ADDR). The three ring addresses are the front-end's
 * user-space (virtual) addresses, not guest-physical ones, unless an IOMMU is negotiated; the
 * back-end finds them through the user addresses of the memory table. {@code log} is a guest
 * address, used only with VHOST_VRING_F_LOG.
 */
public record VringAddress(int index, int flags, long desc, long used, long avail, long log) {
    public static final int SIZE = 40;
    /** flags bit: log writes to the used ring (live migration). */
    public static final int F_LOG = 1;

    public byte[] encode() {
        return Payloads.allocate(SIZE).putInt(index).putInt(flags).putLong(desc).putLong(used).putLong(avail).putLong(log).array();
    }

    public static VringAddress decode(VhostUserMessage m, String from) {
        var b = Payloads.check(m, PayloadKind.VRING_ADDRESS, from);
        return new VringAddress(b.getInt(), b.getInt(), b.getLong(), b.getLong(), b.getLong(), b.getLong());
    }

    @Override
    public String toString() {
        return String.format("VringAddress[index %d, flags 0x%x, desc 0x%x, used 0x%x, avail 0x%x, log 0x%x]",
                index, flags, desc, used, avail, log);
    }
}
