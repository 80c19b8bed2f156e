package io.jvmm.testkit.driver.p9;

/** A request answered with Rlerror: the errno the server gave. */
public final class P9ClientException extends RuntimeException {
    private final int errno;

    public P9ClientException(String what, int errno) {
        super(what + ": errno " + errno);
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
