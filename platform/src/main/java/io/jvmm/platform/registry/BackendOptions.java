package io.jvmm.platform.registry;

/** What every back-end's options record has: the id devices refer to it by. */
public interface BackendOptions {
    String id();
}
