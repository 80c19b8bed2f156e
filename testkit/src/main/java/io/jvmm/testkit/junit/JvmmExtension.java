package io.jvmm.testkit.junit;

import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.fs.FuseClient;
import io.jvmm.testkit.driver.fs.VirtioFsDriver;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import java.lang.reflect.Parameter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * JUnit 5 extension for device tests on the no-CPU machine. Use it through {@link JvmmMachine}
 * (which registers it), or build one for {@code @RegisterExtension}:
 * <pre>{@code
 * @RegisterExtension
 * static JvmmExtension jvmm = JvmmExtension.builder()
 *         .option("-drive", "file={dir:images}/disk.img,format=raw,if=none,id=d0")
 *         .option("-device", "virtio-blk-pci,drive=d0,id=blk0")
 *         .perClass()
 *         .build();
 * }</pre>
 * Test (and {@code @BeforeEach}/{@code @AfterEach}) methods may take: {@link TestMachine},
 * {@link Guest}, {@link JvmmFixture}, {@link BackendProcess} (the only or first back-end), and
 * initialised drivers — {@link VirtioBlkDriver}, {@link VirtioRngDriver}, {@link VirtioFsDriver},
 * {@link FuseClient} (with FUSE_INIT done) — for the first device of their type or the one named
 * by {@link DeviceId}; and {@link VirtioPciDriver} (probed, not initialised: for a device the kit
 * has no driver of, or a test that plays a buggy guest) for the first virtio function or the one
 * named. One driver per device and machine: two parameters for the same device get
 * the same driver.
 *
 * <p>When a test (or a {@code @BeforeEach}/{@code @AfterEach} method) fails, the failure carries a
 * {@link MachineReport} as a suppressed exception: every device's virtio status (with
 * DEVICE_NEEDS_RESET and the last fault), MSI-X counts, each back-end's state and the end of its
 * output, and the log lines captured while the machine lived (logback-classic).
 */
public final class JvmmExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback,
        ParameterResolver, TestExecutionExceptionHandler, LifecycleMethodExecutionExceptionHandler {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(JvmmExtension.class);
    private static final String FIXTURE = "fixture";
    private static final Set<Class<?>> INJECTED = Set.of(TestMachine.class, Guest.class, JvmmFixture.class, BackendProcess.class,
            VirtioBlkDriver.class, VirtioRngDriver.class, VirtioFsDriver.class, FuseClient.class, VirtioPciDriver.class);

    /** Given by the builder; null when the machine comes from {@link JvmmMachine} annotations. */
    private final MachineSpec given;

    /** For {@code @ExtendWith} and {@link JvmmMachine}: the machine is described by the annotation. */
    public JvmmExtension() {
        this(null);
    }

    private JvmmExtension(MachineSpec given) {
        this.given = given;
    }

    public static Builder builder() {
        return new Builder();
    }

    // ---- lifecycle ------------------------------------------------------------------------------

    @Override
    public void beforeAll(ExtensionContext context) {
        MachineSpec spec = classSpec(context);
        if (spec != null && spec.lifecycle() == JvmmMachine.Lifecycle.PER_CLASS) {
            context.getStore(NS).put(FIXTURE, JvmmFixture.start(spec));
        }
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        MachineSpec spec = methodSpec(context).orElseGet(() -> {
            MachineSpec c = classSpec(context);
            return c != null && c.lifecycle() == JvmmMachine.Lifecycle.PER_TEST ? c : null;
        });
        if (spec != null) {
            context.getStore(NS).put(FIXTURE, JvmmFixture.start(spec));
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        close(context);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        close(context);
    }

    private static void close(ExtensionContext context) {
        JvmmFixture f = context.getStore(NS).remove(FIXTURE, JvmmFixture.class);
        if (f != null) {
            f.close();
        }
    }

    /** The machine of the class (builder, or the class's annotation), or null. */
    private MachineSpec classSpec(ExtensionContext context) {
        if (given != null) {
            return given;
        }
        Optional<Class<?>> testClass = context.getTestClass();
        return testClass.flatMap(c -> AnnotationSupport.findAnnotation(c, JvmmMachine.class)).map(MachineSpec::of).orElse(null);
    }

    /** A test method's own machine (its annotation), which replaces the class's for that test. */
    private Optional<MachineSpec> methodSpec(ExtensionContext context) {
        if (given != null) {
            return Optional.empty();
        }
        return context.getTestMethod().flatMap(m -> AnnotationSupport.findAnnotation(m, JvmmMachine.class).map(a -> {
            if (a.lifecycle() == JvmmMachine.Lifecycle.PER_CLASS) {
                throw new ExtensionConfigurationException("@JvmmMachine on method " + m.getName()
                        + " cannot be PER_CLASS: a method's machine lives for that test");
            }
            return MachineSpec.of(a);
        }));
    }

    /** The machine a test sees: its own (method level) or its class's. */
    private static JvmmFixture fixture(ExtensionContext context) {
        for (ExtensionContext c = context; c != null; c = c.getParent().orElse(null)) {
            JvmmFixture f = c.getStore(NS).get(FIXTURE, JvmmFixture.class);
            if (f != null) {
                return f;
            }
        }
        return null;
    }

    // ---- parameters ---------------------------------------------------------------------------------

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return INJECTED.contains(parameter.getParameter().getType());
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        JvmmFixture f = fixture(context);
        Parameter p = parameter.getParameter();
        if (f == null) {
            throw new ParameterResolutionException("no jvmm machine for parameter " + p + ": give the test or its class "
                    + "@JvmmMachine (or register a JvmmExtension built with options); a PER_TEST machine exists only "
                    + "from @BeforeEach on");
        }
        String id = parameter.findAnnotation(DeviceId.class).map(DeviceId::value).orElse(null);
        Class<?> type = p.getType();
        try {
            if (type == TestMachine.class) {
                return f.machine();
            } else if (type == Guest.class) {
                return f.guest();
            } else if (type == JvmmFixture.class) {
                return f;
            } else if (type == BackendProcess.class) {
                List<BackendProcess> all = f.backends();
                if (all.isEmpty()) {
                    throw new ParameterResolutionException("parameter " + p + ": the machine has no back-end (@JvmmBackend)");
                }
                return id == null ? all.get(0) : f.backend(id);
            } else if (type == VirtioBlkDriver.class) {
                return f.blk(id);
            } else if (type == VirtioRngDriver.class) {
                return f.rng(id);
            } else if (type == VirtioFsDriver.class) {
                return f.fs(id);
            } else if (type == FuseClient.class) {
                return f.fuse(id);
            } else if (type == VirtioPciDriver.class) {
                return f.virtio(id);
            }
        } catch (ParameterResolutionException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new ParameterResolutionException("parameter " + p + ": " + e.getMessage() + "\n" + f.report(), e);
        }
        throw new ParameterResolutionException("parameter " + p + " is not one jvmm provides");
    }

    // ---- failure reports ------------------------------------------------------------------------------

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw withReport(context, throwable);
    }

    @Override
    public void handleBeforeEachMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw withReport(context, throwable);
    }

    @Override
    public void handleAfterEachMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw withReport(context, throwable);
    }

    /** {@code throwable} with the machine's report added once (several handlers may see the same failure). */
    private static Throwable withReport(ExtensionContext context, Throwable throwable) {
        JvmmFixture f = fixture(context);
        if (f != null && Arrays.stream(throwable.getSuppressed()).noneMatch(MachineReport.class::isInstance)) {
            try {
                throwable.addSuppressed(new MachineReport(f.report()));
            } catch (RuntimeException e) {
                throwable.addSuppressed(new MachineReport("the machine's report could not be made: " + e));
            }
        }
        return throwable;
    }

    // ---- builder --------------------------------------------------------------------------------------

    /** A machine described in code, for {@code @RegisterExtension}. */
    public static final class Builder {
        private final List<String> options = new ArrayList<>();
        private final List<MachineSpec.BackendSpec> backends = new ArrayList<>();
        private String memory = "";
        private JvmmMachine.Lifecycle lifecycle = JvmmMachine.Lifecycle.PER_TEST;
        private Duration backendTimeout = Duration.ofSeconds(30);
        private int logLines = 100;

        private Builder() {
        }

        /** One option, e.g. {@code option("-device", "virtio-rng-pci")}; placeholders as in {@link JvmmMachine}. */
        public Builder option(String name, String value) {
            options.add(name);
            options.add(value);
            return this;
        }

        /** {@code -device text}. */
        public Builder device(String text) {
            return option("-device", text);
        }

        /** Guest RAM as {@code -m} takes it. */
        public Builder memory(String size) {
            this.memory = size;
            return this;
        }

        /** A back-end process started before the machine and waited for until {@code {socket:NAME}} exists. */
        public Builder backend(String name, String... command) {
            backends.add(new MachineSpec.BackendSpec(name, Arrays.asList(command), true));
            return this;
        }

        /** A back-end process that is not waited for (it creates no socket). */
        public Builder backendNoSocket(String name, String... command) {
            backends.add(new MachineSpec.BackendSpec(name, Arrays.asList(command), false));
            return this;
        }

        public Builder backendTimeout(Duration timeout) {
            this.backendTimeout = timeout;
            return this;
        }

        /** One machine for the whole class (register the extension in a static field). */
        public Builder perClass() {
            this.lifecycle = JvmmMachine.Lifecycle.PER_CLASS;
            return this;
        }

        /** A machine per test (the default). */
        public Builder perTest() {
            this.lifecycle = JvmmMachine.Lifecycle.PER_TEST;
            return this;
        }

        public Builder logLines(int lines) {
            this.logLines = lines;
            return this;
        }

        public JvmmExtension build() {
            return new JvmmExtension(new MachineSpec(options, memory, lifecycle, backends, backendTimeout, logLines));
        }
    }
}
