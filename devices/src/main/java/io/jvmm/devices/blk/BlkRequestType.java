package io.jvmm.devices.blk;

/** virtio-blk request types and status codes (virtio 1.x section 5.2.6). */
final class BlkRequestType {
    static final int IN = 0;
    static final int OUT = 1;
    static final int FLUSH = 4;
    static final int GET_ID = 8;
    static final int DISCARD = 11;
    static final int WRITE_ZEROES = 13;
    static final int[] KNOWN = {IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES};
    static final int MAX_TYPE = WRITE_ZEROES;

    static final int S_OK = 0;
    static final int S_IOERR = 1;
    static final int S_UNSUPP = 2;

    static final int HEADER_SIZE = 16;
    static final int SEGMENT_SIZE = 16;   // discard / write-zeroes range
    static final int ID_BYTES = 20;

    private BlkRequestType() {
    }

    static String name(int type) {
        switch (type) {
            case IN: return "IN";
            case OUT: return "OUT";
            case FLUSH: return "FLUSH";
            case GET_ID: return "GET_ID";
            case DISCARD: return "DISCARD";
            case WRITE_ZEROES: return "WRITE_ZEROES";
            default: return "type " + type;
        }
    }
}
