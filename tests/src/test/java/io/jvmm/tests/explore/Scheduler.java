package io.jvmm.tests.explore;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.SyncWaitTimeoutException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import java.util.function.BooleanSupplier;

/**
 * The explorer's deterministic scheduler: it controls every event context of one run (the
 * device's, the vhost-user connection's and its reply reader's, the guest notifiers', the
 * back-end's data plane and its request handling), which therefore have no thread of their own,
 * and the guest's vCPUs ({@link Actor}s of the run). All of them run on the one thread that calls
 * {@link #runToQuiescence}, one callback (a "step") at a time, in an order drawn from a seeded
 * {@link Random}: the same seed runs the same steps in the same order, so a failing seed replays.
 *
 * <p>Synchronous waits of the product code ({@link EventContext#waitUntil}, a back-end waiting for
 * its data plane, a vCPU held by its write) become nested scheduling: the waiting actor is blocked
 * (it cannot be chosen) while the scheduler runs the others until the condition holds; an own
 * nested wait of a context keeps that context runnable, as its thread would. A deliberate delay of
 * the back-end ({@link #pause}) lets a random number of other steps run. Timers never fire.
 *
 * <p>How a step is chosen: each actor has a random priority; with probability {@code focus} the
 * runnable actor with the highest priority runs one of its steps, otherwise any runnable step is
 * drawn uniformly; after each step its actor's priority is redrawn with probability {@code churn}.
 * Long runs of one actor (PCT-like) and fine interleavings (uniform) both occur.
 */
final class Scheduler implements EventContext.Controller {
    /** Something that runs: an event context, a vCPU, the environment. */
    interface Actor {
        String name();

        /** Adds the steps this actor could run now to {@code out} (none while it is blocked). */
        void steps(List<Step> out);
    }

    /** One callback of one actor. */
    record Step(Actor actor, String what, Runnable work) {
    }

    /** A controlled event context as an actor. */
    final class ContextActor implements Actor {
        final EventContext context;
        /** Frames of this context's callbacks on the stack, and how many of those wait for their own context. */
        int busy;
        int ownWaits;
        boolean closed;

        ContextActor(EventContext context) {
            this.context = context;
        }

        @Override
        public String name() {
            return context.name();
        }

        /** A context's thread runs one callback at a time, unless the one running waits on its own context. */
        boolean runnable() {
            return !closed && busy == ownWaits;
        }

        @Override
        public void steps(List<Step> out) {
            if (!runnable()) {
                return;
            }
            if (context.hasTask()) {
                out.add(new Step(this, "task: " + context.nextTask(), context::runTask));
            }
            for (long key : context.readySources()) {
                String what = context.describeSource(key);
                out.add(new Step(this, what, () -> context.dispatchSource(key)));
            }
        }

        @Override
        public String toString() {
            return name();
        }
    }

    private final Random random;
    private final double focus;
    private final double churn;
    private final int pauseMax;
    private final long maxSteps;
    private final List<ContextActor> contexts = new ArrayList<>();
    private final List<Actor> others = new ArrayList<>();
    private final java.util.Map<Actor, Double> priorities = new java.util.IdentityHashMap<>();
    private final Deque<Actor> running = new ArrayDeque<>();
    private final Trace trace;
    private final List<String> violations = new ArrayList<>();
    private final List<Runnable> afterStep = new ArrayList<>();
    private long steps;
    private boolean aborted;
    private long closingBudget = Long.MAX_VALUE;

    /**
     * @param random   the run's source of every choice
     * @param pauseMax most steps a back-end delay lets run
     * @param maxSteps the run's step budget (past it the run is a livelock)
     */
    Scheduler(Random random, double focus, double churn, int pauseMax, long maxSteps, Trace trace) {
        this.random = random;
        this.focus = focus;
        this.churn = churn;
        this.pauseMax = pauseMax;
        this.maxSteps = maxSteps;
        this.trace = trace;
    }

    /** Adds an actor that is not an event context (a vCPU, the environment). */
    void add(Actor actor) {
        others.add(actor);
        priorities.put(actor, random.nextDouble());
    }

    /** Runs after every step, nested ones included (the run samples interrupts there). */
    void afterEachStep(Runnable r) {
        afterStep.add(r);
    }

    long steps() {
        return steps;
    }

    List<String> violations() {
        return violations;
    }

    void violation(String what) {
        violations.add(what);
        trace.note("VIOLATION: " + what);
    }

    boolean aborted() {
        return aborted;
    }

    /**
     * The run is over and being closed: closing may still need steps (a back-end releasing its
     * rings on its data plane), so a run that was aborted gets a fresh budget for that.
     */
    void closing() {
        aborted = false;
        closingBudget = steps + 100_000;
    }

    /** The actor whose step is running now (null between steps). */
    Actor current() {
        return running.peek();
    }

    // ---------------------------------------------------------------- EventContext.Controller

    @Override
    public void adopted(EventContext context) {
        ContextActor a = new ContextActor(context);
        contexts.add(a);
        priorities.put(a, random.nextDouble());
    }

    @Override
    public void closed(EventContext context) {
        for (ContextActor a : contexts) {
            if (a.context == context) {
                a.closed = true;
            }
        }
    }

    @Override
    public void runUntil(EventContext context, BooleanSupplier condition, Duration timeout, String what) {
        Actor me = running.peek();
        ContextActor own = me instanceof ContextActor c && c.context == context ? c : null;
        if (own != null) {
            own.ownWaits++;
        }
        try {
            waitFor(condition, what, me);
        } finally {
            if (own != null) {
                own.ownWaits--;
            }
        }
    }

    /** A vCPU held by its write, or any other blocked actor: runs the others until {@code condition}. */
    void waitFor(BooleanSupplier condition, String what, Actor waiter) {
        List<Step> choices = new ArrayList<>();
        while (!condition.getAsBoolean()) {
            if (aborted) {
                throw new SyncWaitTimeoutException("explorer", what, Duration.ZERO, "the run was aborted");
            }
            choices.clear();
            collect(choices);
            if (choices.isEmpty()) {
                violation("deadlock: " + (waiter == null ? "the guest" : waiter.name()) + " waits for " + what
                        + " and nothing else can run");
                aborted = true;
                throw new SyncWaitTimeoutException("explorer", what, Duration.ZERO, "nothing else can run");
            }
            run(pick(choices));
        }
    }

    @Override
    public void pause(Duration delay, String what) {
        int n = random.nextInt(pauseMax + 1);
        trace.note("pause (" + what + "): up to " + n + " steps");
        List<Step> choices = new ArrayList<>();
        for (int i = 0; i < n && !aborted; i++) {
            choices.clear();
            collect(choices);
            if (choices.isEmpty()) {
                return;
            }
            run(pick(choices));
        }
    }

    // ---------------------------------------------------------------- stepping

    /** Every step any unblocked actor could run now, in a fixed order. */
    void collect(List<Step> out) {
        for (ContextActor a : contexts) {
            a.steps(out);
        }
        for (Actor a : others) {
            if (!running.contains(a)) {
                a.steps(out);
            }
        }
    }

    /**
     * Runs steps until none is left (or the budget is spent, which is recorded as a violation).
     * Each time none is left, {@code atQuiescence} checks what it wants and says whether to go on
     * (the guest may have been waiting for this moment and continue).
     *
     * @return false if the run was aborted
     */
    boolean runToQuiescence(BooleanSupplier atQuiescence) {
        List<Step> choices = new ArrayList<>();
        while (!aborted) {
            choices.clear();
            collect(choices);
            if (choices.isEmpty()) {
                trace.note("quiescent");
                if (!atQuiescence.getAsBoolean()) {
                    return true;
                }
                continue;
            }
            run(pick(choices));
        }
        return false;
    }

    private Step pick(List<Step> choices) {
        if (choices.size() == 1) {
            return choices.get(0);
        }
        if (random.nextDouble() < focus) {
            Actor best = null;
            double bestPriority = -1;
            for (Step s : choices) {
                double p = priorities.getOrDefault(s.actor(), 0.0);
                if (p > bestPriority) {
                    best = s.actor();
                    bestPriority = p;
                }
            }
            List<Step> mine = new ArrayList<>();
            for (Step s : choices) {
                if (s.actor() == best) {
                    mine.add(s);
                }
            }
            return mine.get(random.nextInt(mine.size()));
        }
        return choices.get(random.nextInt(choices.size()));
    }

    private void run(Step step) {
        Actor a = step.actor();
        steps++;
        trace.step(running.size(), a.name(), step.what());
        running.push(a);
        if (a instanceof ContextActor c) {
            c.busy++;
        }
        try {
            step.work().run();
        } finally {
            if (a instanceof ContextActor c) {
                c.busy--;
            }
            running.pop();
        }
        if (random.nextDouble() < churn) {
            priorities.put(a, random.nextDouble());
        }
        for (Runnable r : afterStep) {
            r.run();
        }
        if ((steps >= maxSteps && closingBudget == Long.MAX_VALUE || steps >= closingBudget) && !aborted) {
            violation("no quiescence after " + steps + " steps (a livelock, or a guest program that never ends)");
            aborted = true;
        }
    }
}
