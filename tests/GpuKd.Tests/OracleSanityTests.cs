using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The oracles and the test data are checked before they judge anything: the degenerate-aware
/// oracle agrees with the published reference wherever it should, the reference really is
/// broken where the op tests say so, the random inputs are at differentiable points (the oracles
/// pass the gradient check on exactly the op tests' sizes), and the bars are attainable.
/// These run without GpuKd's ops.
/// </summary>
public sealed class OracleSanityTests
{
    static readonly int[] Bs = [1, 2, 3, 5, 17];
    static readonly int[] Ds = [1, 3, 33];

    static IEnumerable<(int B, int D)> Sizes() => from b in Bs from d in Ds select (b, d);

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void Oracle_values_are_bit_identical_to_the_reference(string op)
    {
        var c = OpCases.Get(op);
        foreach (var (b, d) in Sizes())
        {
            using var scope = NewDisposeScope();
            var x = Inputs.Randn(c.InputShape(b, d));
            Assert.That(Tolerances.Identical(c.Oracle(x), c.Reference(x)), $"{op} b={b} D={d} random");
            var z = Inputs.WithZeroRow(x, 0);
            Assert.That(Tolerances.Identical(c.Oracle(z), c.Reference(z)), $"{op} b={b} D={d} zero row");
            if (b < 2) continue;
            var dup = Inputs.WithDuplicateRow(x, b - 1, 0);
            Assert.That(Tolerances.Identical(c.Oracle(dup), c.Reference(dup)), $"{op} b={b} D={d} duplicate row");
        }
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void Oracle_passes_the_gradient_check_on_the_op_tests_inputs(string op)
    {
        var c = OpCases.Get(op);
        foreach (var (b, d) in Sizes())
        {
            using var scope = NewDisposeScope();
            GradCheck.Check($"{op} b={b} D={d}", xs => c.Oracle(xs[0]), Inputs.Randn(c.InputShape(b, d)));
        }
    }

    /// <summary>Ops whose reference gradient is accurate on regular inputs (all but triplet angles).</summary>
    static IEnumerable<string> RegularReferenceGradient => OpCases.Names.Where(n => n != OpCases.TripletAngles);

    [TestCaseSource(nameof(RegularReferenceGradient))]
    public void Oracle_gradient_equals_the_reference_gradient_on_regular_inputs(string op)
    {
        var c = OpCases.Get(op);
        foreach (var (b, d) in Sizes())
        {
            using var scope = NewDisposeScope();
            var x = Inputs.Randn(c.InputShape(b, d));
            var (_, gRef) = Autodiff.ValueAndGrad(c.Reference, x);
            var (_, gOracle) = Autodiff.ValueAndGrad(c.Oracle, x);
            Tolerances.AssertClose(gOracle, gRef, 1e-14, $"{op} b={b} D={d}", floor: 1);
        }
    }

    [Test]
    public void Reference_triplet_angle_gradient_fails_the_gradient_check_where_the_oracle_passes()
    {
        // The apex's own leg x_a − x_a is always 0, so F.normalize scales its gradient by 1/ε = 1e12;
        // the exact contributions cancel in td = x_c − x_a's backward, but their round-off (~1e-4)
        // does not. The published composition's gradient is therefore no float64 oracle for angles.
        using var scope = NewDisposeScope();
        var x = Inputs.Randn([5, 3]);
        var reference = GradCheck.Run(xs => ReferenceOps.TripletAngles(xs[0]), [x]);
        var oracle = GradCheck.Run(xs => DegenerateAwareOracle.TripletAngles(xs[0]), [x]);
        TestContext.Out.WriteLine($"reference: {reference.Message}\noracle: {oracle.Message}");
        Assert.That(reference.Passed, Is.False, "reference");
        Assert.That(reference.Error, Is.GreaterThan(1e-6));
        Assert.That(oracle.Passed, Is.True, oracle.Message);
    }

    [TestCase(OpCases.GramMatrixNormalized, "zero")]
    [TestCase(OpCases.Cosine, "zero")]
    [TestCase(OpCases.CosineBatched, "zero")]
    [TestCase(OpCases.TripletAngles, "duplicate")]
    public void Reference_gradient_is_1e12_scale_at_a_degenerate_row_and_the_oracle_is_not(string op, string kind)
    {
        var c = OpCases.Get(op);
        // b ≥ 3: with b = 2 a duplicate leaves no regular leg for the 1e12 factor to multiply.
        foreach (var (b, d) in new[] { (3, 3), (3, 33), (17, 3) })
        {
            using var scope = NewDisposeScope();
            var x = Inputs.Randn(c.InputShape(b, d));
            x = kind == "zero" ? Inputs.WithZeroRow(x, 0) : Inputs.WithDuplicateRow(x, 1, 0);
            var (_, gRef) = Autodiff.ValueAndGrad(c.Reference, x);
            var (_, gOracle) = Autodiff.ValueAndGrad(c.Oracle, x);
            TestContext.Out.WriteLine($"{op} b={b} D={d}: max|g_ref| {Tolerances.MaxAbs(gRef):E2}, max|g_oracle| {Tolerances.MaxAbs(gOracle):E2}");
            Assert.That(Tolerances.MaxAbs(gRef), Is.GreaterThan(1e9), $"{op} b={b} D={d}: reference");
            Assert.That(Tolerances.MaxAbs(gOracle), Is.LessThan(1e3), $"{op} b={b} D={d}: oracle");
        }
    }
}
