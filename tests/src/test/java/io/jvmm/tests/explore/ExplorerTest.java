package io.jvmm.tests.explore;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ExplorerTest {
    @Test
    void fixedSeedsFindNothing() {
        List<String> failures = new ArrayList<>();
        long total = 0;
        for (long seed = 1; seed <= Long.getLong("jvmm.explore.seeds", 20); seed++) {
            Exploration.Outcome o = Exploration.run(seed, Mutation.NONE);
            total += o.steps();
            if (o.failed()) {
                failures.add(o.report());
            }
        }
        System.out.println("steps " + total);
        assertTrue(failures.isEmpty(), () -> String.join("\n", failures));
    }
}
