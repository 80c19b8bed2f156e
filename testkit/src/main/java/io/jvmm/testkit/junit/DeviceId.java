package io.jvmm.testkit.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Which device a driver parameter is for ({@code -device ...,id=ID}), when the machine has more
 * than one of its type: {@code void test(@DeviceId("blk1") VirtioBlkDriver second)}. Without it
 * the first device of the driver's type is taken.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.PARAMETER)
public @interface DeviceId {
    String value();
}
