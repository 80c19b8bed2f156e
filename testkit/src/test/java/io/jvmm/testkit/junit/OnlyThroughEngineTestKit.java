package io.jvmm.testkit.junit;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Runs the deliberately failing test classes only when {@link JvmmFailureReportTest} runs them
 * (it sets {@value #PARAMETER}), never when a build or an IDE picks them up by themselves.
 */
final class OnlyThroughEngineTestKit implements ExecutionCondition {
    static final String PARAMETER = "jvmm.junit.selftest";

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        return context.getConfigurationParameter(PARAMETER).isPresent()
                ? ConditionEvaluationResult.enabled("run by JvmmFailureReportTest")
                : ConditionEvaluationResult.disabled("fails on purpose: JvmmFailureReportTest runs it and checks how");
    }
}
