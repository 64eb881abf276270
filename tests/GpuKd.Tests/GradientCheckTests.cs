using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Each op's fused backward against central differences of its own forward, float64 (DESIGN §5:
/// relative error ≤ 1e-6). Random N(0, 1) inputs are at differentiable points for every size
/// (the oracles pass the same check on the same data, <see cref="OracleSanityTests"/>). b = 1
/// distances and b ≤ 2 angles are constant and checked as zero gradients; degenerate inputs (zero
/// rows, duplicates) sit on kinks of the clamp/normalisation and are left to
/// <see cref="DegenerateRowTests"/>, which compares values and documented gradients instead.
/// D = 1 is skipped for the ops that are locally constant in 1-D (cosines, angles = ±1): their
/// gradient is 0, and a Gram-form forward's round-off (amplified by 1/d² for crowded 1-D points)
/// divided by h swamps central differences (a float64 Gram-form composition shows 1e-5 at b = 17);
/// <see cref="ReferenceParityTests"/> asserts that gradient vanishes.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class GradientCheckTests(KdBackend backend) : BackendFixture(backend)
{
    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void Float64_gradient_matches_central_differences(string op)
    {
        using var _ = UseBackend();
        var c = OpCases.Get(op);
        foreach (var (b, d) in GradCheckSizes.Where(s => !(c.LocallyConstantIn1D && s.D == 1)))
        {
            using var scope = NewDisposeScope();
            GradCheck.Check(Label(op, $"b={b}", $"D={d}"), xs => c.Ours(xs[0]), Inputs.Randn(c.InputShape(b, d)));
        }
    }
}
