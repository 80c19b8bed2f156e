package io.jvmm.testkit.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A no-CPU machine for each test (or for the whole class), built from QEMU-style options through
 * {@link io.jvmm.testkit.TestMachine#builder()}, with the back-end processes it needs started
 * first:
 * <pre>{@code
 * @JvmmMachine(options = {"-device", "virtio-rng-pci,id=rng0"})
 * class RngTest {
 *     @Test
 *     void entropy(VirtioRngDriver rng) {
 *         assertEquals(32, rng.read(32).length);
 *     }
 * }
 * }</pre>
 * Options and back-end command lines may use {@code {workdir}} (a private temporary directory of
 * the machine's), {@code {dir:NAME}} (a directory {@code NAME} in it, created on first use) and
 * {@code {socket:NAME}} (the socket path of back-end {@code NAME}). On a method, it replaces the
 * class's machine for that test. See {@link JvmmExtension} for the parameters a test can take.
 */
@Documented
@Inherited
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.TYPE, ElementType.METHOD})
@ExtendWith(JvmmExtension.class)
public @interface JvmmMachine {
    /** Options in pairs, as on a command line: {@code {"-drive", "file=...,id=d0", "-device", "virtio-blk-pci,drive=d0"}}. */
    String[] options() default {};

    /** Guest RAM as {@code -m} takes it; empty: the builder's default (128 MiB). */
    String memory() default "";

    /** A machine per test (the default) or one for the whole class. */
    Lifecycle lifecycle() default Lifecycle.PER_TEST;

    /** Processes to start (in order, each until its socket appears) before the machine is built. */
    JvmmBackend[] backends() default {};

    /** How long a back-end may take to create its socket. */
    int backendTimeoutSeconds() default 30;

    /** How many recent log lines a failure report carries. */
    int logLines() default 100;

    /** How long the machine lives. */
    enum Lifecycle {
        /** Built before each test and closed after it. */
        PER_TEST,
        /** Built before the first test of the class and closed after the last. */
        PER_CLASS
    }
}
