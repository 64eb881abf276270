using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Adversarial rows: duplicates, all-identical batches, zero rows, a row below the cosine ε.
/// Values always match the reference. Gradients match it too, except at the documented
/// divergences (REFERENCE.md "Numerical traps"): a zero row under cosine / SP row normalisation
/// and a duplicate row under triplet angles (leg x_b = x_a, b ≠ a). There the reference's
/// gradient is ~1e12 × upstream (asserted, so the test documents the divergence) and ours is
/// finite and equal to <see cref="DegenerateAwareOracle"/>: no gradient through that normalisation.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class DegenerateRowTests(KdBackend backend) : BackendFixture(backend)
{
    /// <summary>Reference gradients at a degenerate normalisation are 1/ε-scaled: 1e10–1e13 here.</summary>
    const double HugeGradient = 1e9;

    /// <summary>Value parity with the reference, gradient parity (or documented divergence) as above.</summary>
    void AssertMatches(OpCase c, Tensor x, int b, int d, bool diverges, string where, Func<Tensor, Tensor>? regularRows = null)
    {
        var (value, grad) = Autodiff.ValueAndGrad(c.Ours, x);
        var (refValue, refGrad) = Autodiff.ValueAndGrad(c.Reference, x);
        var (_, oracleGrad) = Autodiff.ValueAndGrad(c.Oracle, x);
        Assert.That(Tolerances.AllFinite(value), $"{where}: value finite");
        Assert.That(Tolerances.AllFinite(grad), $"{where}: gradient finite");
        Tolerances.AssertClose(value, refValue, Tolerances.Float64Parity, $"{where}: value");
        GradientAssert.Close(c, b, d, grad, c.ReferenceGradientIsExact && !diverges ? refGrad : oracleGrad, Tolerances.Float64Parity, where);
        if (!diverges) return;

        // The documented divergence: the reference's gradient is huge where ours is the oracle's.
        Assert.That(Tolerances.MaxAbs(refGrad), Is.GreaterThan(HugeGradient), $"{where}: the reference's gradient is expected to be ~1e12-scale here");
        if (regularRows is not null)
            Tolerances.AssertClose(regularRows(grad), regularRows(refGrad), Tolerances.Float64Parity,
                                   $"{where}: gradient of the regular rows equals the reference's", floor: 1);
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void Duplicate_row(string op)
    {
        using var _ = UseBackend();
        var c = OpCases.Get(op);
        foreach (var (b, d) in DegenerateRowSizes)
        {
            using var scope = NewDisposeScope();
            // Row 1 = row 0 (for b ≥ 3 the other rows stay regular legs for the angles).
            var x = Inputs.WithDuplicateRow(Inputs.Randn(c.InputShape(b, d)), 1, 0);
            // With b = 2 every leg is degenerate and the reference's angle gradient is 0, not huge.
            var diverges = c.DuplicateRowDiverges && b >= 3;
            AssertMatches(c, x, b, d, diverges, Label(op, $"b={b}", $"D={d}", "row 1 = row 0"));
        }
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void All_rows_identical(string op)
    {
        // Every distance at the clamp (no gradient), every angle leg degenerate (value 0).
        using var _ = UseBackend();
        var c = OpCases.Get(op);
        foreach (var (b, d) in new[] { (2, 3), (3, 1), (3, 33), (17, 3) })
        {
            using var scope = NewDisposeScope();
            var row = Inputs.Randn(c.Batched ? [2, 1, d] : [1, d]);
            var x = row.expand(c.InputShape(b, d)).contiguous();
            AssertMatches(c, x, b, d, diverges: false, Label(op, $"b={b}", $"D={d}", "all rows equal"));
        }
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void Zero_row(string op)
    {
        using var _ = UseBackend();
        var c = OpCases.Get(op);
        foreach (var (b, d) in new[] { (1, 3) }.Concat(DegenerateRowSizes))
        {
            using var scope = NewDisposeScope();
            var x = Inputs.WithZeroRow(Inputs.Randn(c.InputShape(b, d)), 0);
            // With b = 1 the zero row has no partner: the reference's gradient is 0·1e12 = 0 there.
            var diverges = c.ZeroRowDiverges && b >= 2;
            AssertMatches(c, x, b, d, diverges, Label(op, $"b={b}", $"D={d}", "row 0 = 0"),
                          regularRows: g => g.narrow(-2, 1, b - 1));
        }
    }

    [TestCase(OpCases.Cosine)]
    [TestCase(OpCases.CosineBatched)]
    public void Row_with_norm_below_eps_is_divided_by_eps_and_passes_no_gradient(string op)
    {
        // ‖x_0‖ = 1e-13 < ε = 1e-12: x̂_0 = x_0/ε has norm 0.1, a value the reference defines.
        using var _ = UseBackend();
        var c = OpCases.Get(op);
        foreach (var (b, d) in new[] { (2, 3), (5, 33) })
        {
            using var scope = NewDisposeScope();
            var x = Inputs.Randn(c.InputShape(b, d));
            using (no_grad())
            {
                var row = x.select(-2, 0);
                row.mul_(1e-13 / row.norm(-1, keepdim: true));
            }
            AssertMatches(c, x, b, d, diverges: true, Label(op, $"b={b}", $"D={d}", "‖row 0‖ = 1e-13"),
                          regularRows: g => g.narrow(-2, 1, b - 1));
        }
    }
}
