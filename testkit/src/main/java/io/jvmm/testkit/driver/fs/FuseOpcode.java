package io.jvmm.testkit.driver.fs;

/** The FUSE opcodes this client sends (include/uapi/linux/fuse.h, enum fuse_opcode), with their names. */
public final class FuseOpcode {
    public static final int LOOKUP = 1;
    public static final int FORGET = 2;
    public static final int GETATTR = 3;
    public static final int MKDIR = 9;
    public static final int UNLINK = 10;
    public static final int OPEN = 14;
    public static final int READ = 15;
    public static final int WRITE = 16;
    public static final int RELEASE = 18;
    public static final int FLUSH = 25;
    public static final int INIT = 26;
    public static final int OPENDIR = 27;
    public static final int READDIR = 28;
    public static final int RELEASEDIR = 29;
    public static final int CREATE = 35;

    private FuseOpcode() {
    }

    public static String name(int opcode) {
        return switch (opcode) {
            case LOOKUP -> "LOOKUP";
            case FORGET -> "FORGET";
            case GETATTR -> "GETATTR";
            case MKDIR -> "MKDIR";
            case UNLINK -> "UNLINK";
            case OPEN -> "OPEN";
            case READ -> "READ";
            case WRITE -> "WRITE";
            case RELEASE -> "RELEASE";
            case FLUSH -> "FLUSH";
            case INIT -> "INIT";
            case OPENDIR -> "OPENDIR";
            case READDIR -> "READDIR";
            case RELEASEDIR -> "RELEASEDIR";
            case CREATE -> "CREATE";
            default -> "opcode " + opcode;
        };
    }
}
