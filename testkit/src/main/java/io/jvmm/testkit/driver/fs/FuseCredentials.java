package io.jvmm.testkit.driver.fs;

/**
 * Who makes the requests (fuse_in_header uid, gid, pid): the server creates files as uid/gid.
 * A guest kernel fills in the calling process; this client uses one identity for everything.
 */
public record FuseCredentials(int uid, int gid, int pid) {
    /** root, as guest process 1. */
    public static final FuseCredentials ROOT = new FuseCredentials(0, 0, 1);
}
