package io.jvmm.pci.dispatch;

/** A vCPU waited too long for the acknowledgement of an I/O operation (rule 1). */
public final class IoTimeoutException extends RuntimeException {

    public IoTimeoutException(String message) {
        super(message);
    }
}
