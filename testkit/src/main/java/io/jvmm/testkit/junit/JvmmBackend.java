package io.jvmm.testkit.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A back-end process a {@link JvmmMachine} needs, e.g. virtiofsd:
 * <pre>{@code
 * @JvmmBackend(name = "virtiofsd", command = {"/usr/lib/qemu/virtiofsd", "--socket-path={socket:virtiofsd}",
 *         "-o", "source={dir:shared}", "-o", "sandbox=chroot"})
 * }</pre>
 * It is started before the machine is built; unless {@link #awaitSocket()} is false, the machine
 * waits until {@code {socket:NAME}} exists (a process that exits first, or takes too long, fails
 * the test with its output). Its output is kept for failure reports; it is killed (with the
 * processes it started) when the machine is closed.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target({})
public @interface JvmmBackend {
    /** Names it in {@code {socket:NAME}}, in reports and for {@link JvmmFixture#backend(String)}. */
    String name();

    /** The command line, with the same placeholders as the machine's options. */
    String[] command();

    /** Wait for {@code {socket:NAME}} to appear before building the machine. */
    boolean awaitSocket() default true;
}
