using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Gradient comparison of an op against its float64 oracle. Relative to max(‖g_oracle‖, 1): the
/// weights W are N(0, 1), so a regular gradient is O(1) or larger, and the floor only matters
/// where the exact gradient vanishes (b = 1, b = 2 angles). Where the op is locally constant
/// (<see cref="OpCase.LocallyConstantIn1D"/>, D = 1) the exact gradient is 0 but the Gram form
/// computes it as a cancellation of 1/d² terms, so only an absolute bound is meaningful.
/// </summary>
public static class GradientAssert
{
    /// <summary>
    /// Bound on ‖g‖ / ‖W‖ for a gradient that is exactly 0 in exact arithmetic. ‖W‖ is the natural
    /// unit (‖Jᵀ W‖ ≤ ‖J‖ ‖W‖ and J is O(1) for unit-scale features); the bound is loose because the
    /// Gram form's 1/d² terms grow as 1-D points crowd: a float64 Gram-form composition leaves
    /// ‖g‖/‖W‖ ≈ 2e-8 at b = 64 (<see cref="BarAttainabilityTests"/>), a wrong gradient is O(1).
    /// </summary>
    public const double VanishingGradient = 1e-6;

    public static void Close(OpCase op, int b, int d, Tensor actual, Tensor expected, double tolerance, string what)
    {
        if (op.LocallyConstantIn1D && d == 1)
        {
            Assert.That(actual.shape, Is.EqualTo(expected.shape), $"{what}: gradient shape");
            var weightNorm = Math.Sqrt(op.OutputShape(b).Aggregate(1L, (p, n) => p * n));   // ‖W‖ ≈ √numel for N(0, 1) weights
            var ratio = Tolerances.Norm(actual) / weightNorm;
            Assert.That(ratio, Is.LessThanOrEqualTo(VanishingGradient),
                $"{what}: in 1-D the op is locally constant, its gradient must vanish (‖g‖/‖W‖ = {ratio:E3})");
            return;
        }
        Tolerances.AssertClose(actual, expected, tolerance, $"{what}: gradient", floor: 1);
    }
}
