package io.jvmm.testkit.driver.blk;

/** virtio-blk request types, status codes, feature bits and config offsets (virtio 1.x, 5.2), guest side. */
public final class BlkProtocol {
    public static final int T_IN = 0;
    public static final int T_OUT = 1;
    public static final int T_FLUSH = 4;
    public static final int T_GET_ID = 8;
    public static final int T_DISCARD = 11;
    public static final int T_WRITE_ZEROES = 13;

    public static final int S_OK = 0;
    public static final int S_IOERR = 1;
    public static final int S_UNSUPP = 2;

    public static final long F_SIZE_MAX = 1L << 1;
    public static final long F_SEG_MAX = 1L << 2;
    public static final long F_RO = 1L << 5;
    public static final long F_BLK_SIZE = 1L << 6;
    public static final long F_FLUSH = 1L << 9;
    public static final long F_DISCARD = 1L << 13;
    public static final long F_WRITE_ZEROES = 1L << 14;

    static final int CFG_CAPACITY = 0;
    static final int CFG_SIZE_MAX = 8;
    static final int CFG_SEG_MAX = 12;
    static final int CFG_BLK_SIZE = 20;
    static final int CFG_MAX_DISCARD_SECTORS = 36;
    static final int CFG_MAX_DISCARD_SEG = 40;
    static final int CFG_DISCARD_SECTOR_ALIGNMENT = 44;
    static final int CFG_MAX_WRITE_ZEROES_SECTORS = 48;
    static final int CFG_MAX_WRITE_ZEROES_SEG = 52;
    static final int CFG_WRITE_ZEROES_MAY_UNMAP = 56;

    /** The unmap flag of a discard / write-zeroes range. */
    public static final int RANGE_F_UNMAP = 1;

    public static final int SECTOR = 512;
    public static final int ID_BYTES = 20;
    static final int HEADER_BYTES = 16;
    static final int RANGE_BYTES = 16;

    private BlkProtocol() {
    }

    public static String statusName(int status) {
        return switch (status) {
            case S_OK -> "OK";
            case S_IOERR -> "IOERR";
            case S_UNSUPP -> "UNSUPP";
            default -> "status " + status;
        };
    }
}
