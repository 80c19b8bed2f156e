package io.jvmm.devices;

import static org.junit.jupiter.api.Assertions.fail;

/** Checks the fuzz targets share: what a failure caused by bad input may be made of. */
public final class FuzzChecks {
    private FuzzChecks() {
    }

    /**
     * Fails if a failure's chain of causes holds a Java runtime exception or error thrown inside the
     * JDK (an index, a buffer position or limit, a negative size, a null, an out-of-memory): bad
     * input must be refused by our checks, with our message, before the JDK (or Netty's buffers) trip
     * over it. Other exceptions our own code throws (an IllegalArgumentException naming the input, an
     * IllegalStateException wrapping an I/O error) are refusals, not bugs.
     */
    public static void refusedByUs(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof Error) {
                fail("failed with an error: " + failure, failure);
            }
            if (!(t instanceof RuntimeException)) {
                continue;
            }
            StackTraceElement[] where = t.getStackTrace();
            boolean thrownByJdk = where.length > 0 && (where[0].getClassName().startsWith("java.")
                    || where[0].getClassName().startsWith("jdk.") || where[0].getClassName().startsWith("sun."));
            if (thrownByJdk || t instanceof IndexOutOfBoundsException || t instanceof NullPointerException
                    || t instanceof ClassCastException || t instanceof ArithmeticException || t instanceof NegativeArraySizeException
                    || t instanceof ArrayStoreException || t instanceof java.nio.BufferOverflowException
                    || t instanceof java.nio.BufferUnderflowException || t instanceof java.util.ConcurrentModificationException
                    || t instanceof java.util.NoSuchElementException) {
                fail("failed with a runtime error of ours (" + t + "): " + failure, failure);
            }
        }
    }

    /** A temporary directory for a fuzz target's sockets and files, removed when the JVM exits (if empty). */
    public static java.nio.file.Path tempDirectory(String prefix) {
        try {
            java.nio.file.Path dir = java.nio.file.Files.createTempDirectory(prefix);
            dir.toFile().deleteOnExit();
            return dir;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
