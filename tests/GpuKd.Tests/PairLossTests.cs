using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Every two-input loss (<see cref="PairLossCases"/>) on both backends: float64 gradient checks (both
/// inputs, and the student alone), float64 parity with the published composition (value and both
/// gradients), float32 against the float64 oracle, adversarial rows (duplicates, zero samples, all
/// rows equal, b = 1, 2, 3), feature maps, and bad input. Student and teacher widths differ throughout.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class PairLossTests(KdBackend backend) : BackendFixture(backend)
{
    /// <summary>(b, Ds, Dt). ILGPU: ≤ ~40 input elements per check (every element costs two forwards of ~5 launches).</summary>
    (int B, int Ds, int Dt)[] GradSizes => IsIlgpu
        ? [(1, 3, 2), (2, 3, 5), (3, 4, 2), (5, 3, 4)]
        : [(1, 3, 2), (2, 1, 1), (2, 3, 5), (3, 4, 2), (5, 3, 7), (17, 3, 5), (17, 33, 2)];

    (int B, int Ds, int Dt)[] PairParitySizes => IsIlgpu
        ? [(1, 3, 2), (2, 3, 5), (3, 1, 1), (3, 4, 2), (5, 33, 3), (17, 3, 5), (2, 1000, 7)]
        : [(1, 3, 2), (2, 3, 5), (3, 1, 1), (3, 4, 2), (5, 33, 3), (17, 3, 5), (64, 33, 17), (3, 1000, 7), (2, 1000, 1000)];

    (int B, int Ds, int Dt)[] PairFloat32Sizes => IsIlgpu
        ? [(3, 3, 5), (5, 33, 7), (17, 3, 3)]
        : [(3, 3, 5), (5, 33, 7), (17, 3, 3), (64, 33, 17), (17, 1000, 33)];

    static (Tensor S, Tensor T) Pair(int b, int ds, int dt, ScalarType dtype = ScalarType.Float64)
        => (Inputs.Randn([b, ds], dtype), Inputs.Randn([b, dt], dtype, salt: 7));

    [TestCaseSource(typeof(PairLossCases), nameof(PairLossCases.DifferentiableNames))]
    public void Float64_gradients_match_central_differences(string loss)
    {
        using var _ = UseBackend();
        var c = PairLossCases.Get(loss);
        foreach (var (b, ds, dt) in GradSizes)
        {
            using var scope = NewDisposeScope();
            var (s, t) = Pair(b, ds, dt);
            GradCheck.Check(Label(loss, $"b={b}", $"Ds={ds}", $"Dt={dt}", "both"), xs => c.Ours(xs[0], xs[1]), s, t);
            var report = GradCheck.Run(xs => c.Ours(xs[0], xs[1]), [s, t], requiresGrad: [true, false]);
            Assert.That(report.Passed, report.Message + " " + Label(loss, $"b={b}", "student only"));
        }
    }

    /// <summary>
    /// Norm floor of the parity comparisons: losses and gradients of unit-scale features are O(0.1–1),
    /// so an exactly-zero expectation (b = 1, all-zero sides) is met when the result is ≤ 1e-14 (round-off).
    /// </summary>
    const double AbsoluteFloor = 1e-4;

    void AssertParity(PairLossCase c, Tensor s, Tensor t, string where, bool useOracleGradient = false)
    {
        var (value, gs, gt) = PairAutodiff.Run(c.Ours, s, t);
        var (refValue, refGs, refGt) = PairAutodiff.Run(useOracleGradient ? c.Oracle : c.Reference, s, t);
        var (checkValue, _, _) = PairAutodiff.Run(c.Reference, s, t, false, false);
        Assert.That(value.dtype, Is.EqualTo(s.dtype), $"{where}: dtype");
        Assert.That(value.shape, Is.Empty, $"{where}: a 0-d loss");
        Assert.That(Tolerances.AllFinite(value) && Tolerances.AllFinite(gs!) && Tolerances.AllFinite(gt!), $"{where}: finite");
        Tolerances.AssertClose(value, checkValue, Tolerances.Float64Parity, $"{where}: value", floor: AbsoluteFloor);
        Tolerances.AssertClose(gs!, refGs!, Tolerances.Float64Parity, $"{where}: student gradient", floor: AbsoluteFloor);
        Tolerances.AssertClose(gt!, refGt!, Tolerances.Float64Parity, $"{where}: teacher gradient", floor: AbsoluteFloor);
        _ = refValue;
    }

    [TestCaseSource(typeof(PairLossCases), nameof(PairLossCases.Names))]
    public void Float64_value_and_gradients_match_the_reference(string loss)
    {
        using var _ = UseBackend();
        var c = PairLossCases.Get(loss);
        foreach (var (b, ds, dt) in PairParitySizes)
        {
            using var scope = NewDisposeScope();
            var (s, t) = Pair(b, ds, dt);
            AssertParity(c, s, t, Label(loss, $"b={b}", $"Ds={ds}", $"Dt={dt}"));
        }
    }

    [TestCaseSource(typeof(PairLossCases), nameof(PairLossCases.Names))]
    public void Feature_maps_are_flattened_per_sample(string loss)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var c = PairLossCases.Get(loss);
        var s = Inputs.Randn([3, 2, 3, 3]);
        var t = Inputs.Randn([3, 4, 2, 1], salt: 3);
        AssertParity(c, s, t, Label(loss, "[3,2,3,3] vs [3,4,2,1]"));
        var (flat, _, _) = PairAutodiff.Run(c.Ours, s.reshape(3, -1), t.reshape(3, -1), false, false);
        var (maps, gs, _) = PairAutodiff.Run(c.Ours, s, t, true, false);
        Tolerances.AssertClose(maps, flat, Tolerances.SameComputation, Label(loss, "maps vs flattened"));
        Assert.That(gs!.shape, Is.EqualTo(s.shape), Label(loss, "gradient shape"));
        // A non-contiguous student (a transposed view) gives the same loss.
        var st = s.reshape(3, -1).t().contiguous().t();
        var (strided, _, _) = PairAutodiff.Run(c.Ours, st, t.reshape(3, -1), false, false);
        Tolerances.AssertClose(strided, flat, Tolerances.SameComputation, Label(loss, "strided vs contiguous"));
    }

    [TestCaseSource(typeof(PairLossCases), nameof(PairLossCases.Names))]
    public void Float32_value_and_gradients_meet_the_bar(string loss)
    {
        using var _ = UseBackend();
        var c = PairLossCases.Get(loss);
        foreach (var (b, ds, dt) in PairFloat32Sizes)
        {
            // Student ≈ teacher makes the loss and its gradient a difference of relations 100× smaller than
            // them: judged by the suite's difference bar, at the widths where plain float32 compositions
            // meet it (Float32Comparison.MaxDifferenceD).
            foreach (var perturbed in ds <= Float32Comparison.MaxDifferenceD ? new[] { false, true } : [false])
            {
                double bar = perturbed ? Tolerances.Float32DifferenceBar : Tolerances.Float32Bar;
                using var scope = NewDisposeScope();
                var where = Label(loss, $"b={b}", $"Ds={ds}", $"Dt={dt}", perturbed ? "student = teacher + 1%" : "");
                var (s, t) = Pair(b, ds, dt, ScalarType.Float32);
                if (perturbed) { t = Inputs.Randn([b, ds], ScalarType.Float32, salt: 7); s = Inputs.Perturbed(t); }
                var (v32, gs32, gt32) = PairAutodiff.Run(c.Ours, s, t);
                var (v64, gs64, gt64) = PairAutodiff.Run(c.Oracle, Inputs.Exact64(s), Inputs.Exact64(t));
                Assert.That(v32.dtype, Is.EqualTo(ScalarType.Float32), where);
                Assert.That(Tolerances.RelErr(v32, v64), Is.LessThanOrEqualTo(bar), $"{where}: value");
                Assert.That(Tolerances.RelErr(gs32!, gs64!), Is.LessThanOrEqualTo(bar), $"{where}: student gradient");
                Assert.That(Tolerances.RelErr(gt32!, gt64!), Is.LessThanOrEqualTo(bar), $"{where}: teacher gradient");
            }
        }
    }

    /// <summary>Mean 100, spread 1: the distance-based losses centre first, so float32 keeps the bar.</summary>
    [TestCaseSource(typeof(PairLossCases), nameof(PairLossCases.TranslationInvariantNames))]
    public void Float32_meets_the_bar_on_features_offset_by_100(string loss)
    {
        using var _ = UseBackend();
        var c = PairLossCases.Get(loss);
        foreach (var (b, ds, dt) in PairFloat32Sizes)
        {
            using var scope = NewDisposeScope();
            var where = Label(loss, $"b={b}", $"Ds={ds}", $"Dt={dt}", "offset 100");
            var s = Inputs.Offset([b, ds], ScalarType.Float32);
            var t = Inputs.Offset([b, dt], ScalarType.Float32, salt: 7);
            var (v32, gs32, gt32) = PairAutodiff.Run(c.Ours, s, t);
            var (v64, gs64, gt64) = PairAutodiff.Run(c.Oracle, Inputs.Exact64(s), Inputs.Exact64(t));
            Assert.That(Tolerances.RelErr(v32, v64), Is.LessThanOrEqualTo(Tolerances.Float32Bar), $"{where}: value");
            Assert.That(Tolerances.RelErr(gs32!, gs64!), Is.LessThanOrEqualTo(Tolerances.Float32Bar), $"{where}: student gradient");
            Assert.That(Tolerances.RelErr(gt32!, gt64!), Is.LessThanOrEqualTo(Tolerances.Float32Bar), $"{where}: teacher gradient");
        }
    }

    [TestCaseSource(typeof(PairLossCases), nameof(PairLossCases.Names))]
    public void Duplicate_rows_and_identical_batches(string loss)
    {
        using var _ = UseBackend();
        var c = PairLossCases.Get(loss);
        foreach (var (b, ds, dt) in new[] { (2, 3, 2), (3, 3, 5), (17, 4, 3) })
        {
            using var scope = NewDisposeScope();
            var (s, t) = Pair(b, ds, dt);
            AssertParity(c, Inputs.WithDuplicateRow(s, 1, 0), t, Label(loss, $"b={b}", "student row 1 = row 0"));
            AssertParity(c, s, Inputs.WithDuplicateRow(t, 1, 0), Label(loss, $"b={b}", "teacher row 1 = row 0"));
            var same = Inputs.Randn([1, ds]).expand(b, ds).contiguous();
            AssertParity(c, same, t, Label(loss, $"b={b}", "all student rows equal"));
        }
    }

    [TestCaseSource(typeof(PairLossCases), nameof(PairLossCases.Names))]
    public void Zero_samples(string loss)
    {
        using var _ = UseBackend();
        var c = PairLossCases.Get(loss);
        foreach (var (b, ds, dt) in new[] { (1, 3, 2), (2, 3, 2), (3, 3, 5), (17, 4, 3) })
        {
            using var scope = NewDisposeScope();
            var (s, t) = Pair(b, ds, dt);
            var where = Label(loss, $"b={b}", "sample 0 = 0");
            var zs = Inputs.WithZeroRow(s, 0);
            // Values always equal the reference's; gradients the oracle's where the normalisation degenerates.
            AssertParity(c, zs, t, where + " (student)", useOracleGradient: c.ZeroRowDiverges);
            AssertParity(c, s, Inputs.WithZeroRow(t, 0), where + " (teacher)", useOracleGradient: c.ZeroRowDiverges);
            AssertParity(c, zs, Inputs.WithZeroRow(t, 0), where + " (both)", useOracleGradient: c.ZeroRowDiverges);
            if (c.ZeroRowDiverges && b >= 2)
            {
                var (_, refGs, _) = PairAutodiff.Run(c.Reference, zs, t);
                Assert.That(Tolerances.MaxAbs(refGs!), Is.GreaterThan(1e6), $"{where}: the reference's gradient is expected to be 1/eps-scaled here");
            }
        }
        using (NewDisposeScope())
        {
            // Both all zero: loss 0, gradient 0 (not NaN).
            var (v, gs, gt) = PairAutodiff.Run(c.Ours, zeros(3, 4, dtype: ScalarType.Float64), zeros(3, 2, dtype: ScalarType.Float64));
            Assert.That(v.item<double>(), Is.EqualTo(0.0), Label(loss, "all zero: value"));
            Assert.That(Tolerances.MaxAbs(gs!) + Tolerances.MaxAbs(gt!), Is.EqualTo(0.0), Label(loss, "all zero: gradients"));
        }
    }

    [TestCaseSource(typeof(PairLossCases), nameof(PairLossCases.Names))]
    public void No_graph_without_requires_grad(string loss)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var c = PairLossCases.Get(loss);
        var (s, t) = Pair(3, 4, 5);
        Assert.That(c.Ours(s, t).requires_grad, Is.False, Label(loss));
    }

    static NUnit.Framework.Constraints.IResolveConstraint ThrowsNaming(string parameter)
        => Throws.InstanceOf<ArgumentException>().With.Property(nameof(ArgumentException.ParamName)).EqualTo(parameter);

    [TestCaseSource(typeof(PairLossCases), nameof(PairLossCases.Names))]
    public void Bad_input_is_rejected_naming_the_argument(string loss)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var c = PairLossCases.Get(loss);
        var (s, t) = Pair(4, 3, 5);
        Assert.That(() => c.Ours(s, Inputs.Randn([3, 5])), ThrowsNaming("teacher"), Label(loss, "batch mismatch"));
        Assert.That(() => c.Ours(s, t.to(ScalarType.Float32)), ThrowsNaming("teacher"), Label(loss, "dtype mismatch"));
        Assert.That(() => c.Ours(Inputs.Randn([4]), t), ThrowsNaming("student"), Label(loss, "rank 1 student"));
        Assert.That(() => c.Ours(s, Inputs.Randn([4])), ThrowsNaming("teacher"), Label(loss, "rank 1 teacher"));
        Assert.That(() => c.Ours(s.to(ScalarType.Int32), t), ThrowsNaming("student"), Label(loss, "int student"));
        Assert.That(() => c.Ours(zeros(0, 3, dtype: ScalarType.Float64), zeros(0, 5, dtype: ScalarType.Float64)), ThrowsNaming("student"), Label(loss, "empty"));
        Assert.That(() => c.Ours(null!, t), Throws.InstanceOf<ArgumentNullException>(), Label(loss, "null"));
    }
}
