package io.jvmm.platform.registry;

/** What parsing a property may consult: the back-ends defined by other options. */
public interface ParseContext {
    /**
     * The options of back-end {@code id} of {@code kind}, which must be a {@code type}; marks it
     * used. Throws a {@link io.jvmm.platform.options.UserError} if it is undefined, of another
     * type, or already used by another device.
     */
    <B> B claimBackend(String where, String property, BackendKind kind, String id, Class<B> type);

    /** A context without back-ends (parsing a back-end's own options). */
    ParseContext NONE = new ParseContext() {
        @Override
        public <B> B claimBackend(String where, String property, BackendKind kind, String id, Class<B> type) {
            throw new io.jvmm.platform.options.UserError(where + ": property '" + property + "' cannot refer to a back-end here");
        }
    };
}
