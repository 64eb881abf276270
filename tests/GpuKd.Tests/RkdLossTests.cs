using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The RKD distance and angle losses (issue 3) on both backends: float64 gradient checks with
/// both inputs requiring grad, parity with the authors' code (REFERENCE.md) in value and
/// gradient, float32 against float64 at the DESIGN §5 bars on offset and near-collinear
/// features, duplicate rows, the module, reductions and bad input.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public class RkdLossTests(KdBackend backend) : BackendFixture(backend)
{
    public enum Loss { Distance, Angle }

    static Tensor Ours(Loss loss, Tensor s, Tensor t, nn.Reduction reduction = nn.Reduction.Mean) => loss == Loss.Distance
        ? gpukd.functional.rkd_distance_loss(s, t, reduction)
        : gpukd.functional.rkd_angle_loss(s, t, reduction);

    /// <summary>The authors' code, verbatim.</summary>
    static Tensor Reference(Loss loss, Tensor s, Tensor t) => loss == Loss.Distance
        ? ReferenceOps.RkdDistanceLoss(s, t)
        : ReferenceOps.RkdAngleLoss(s, t);

    /// <summary>The gradient oracle: the authors' code with GpuKd's documented zero gradient
    /// through degenerate legs (the plain reference's angle gradient carries ~1e-4 round-off).</summary>
    static Tensor Oracle(Loss loss, Tensor s, Tensor t) => loss == Loss.Distance
        ? ReferenceOps.RkdDistanceLoss(s, t)
        : ReferenceOps.SmoothL1Mean(DegenerateAwareOracle.TripletAngles(s).reshape(-1), DegenerateAwareOracle.TripletAngles(t).reshape(-1));

    static int MinBatch(Loss loss) => loss == Loss.Distance ? 2 : 1;

    /// <summary>Value and both gradients of f(s, t) (all float64).</summary>
    static (Tensor Value, Tensor GradS, Tensor GradT) Eval(Func<Tensor, Tensor, Tensor> f, Tensor s, Tensor t)
    {
        var sl = s.detach().clone().requires_grad_(true);
        var tl = t.detach().clone().requires_grad_(true);
        var y = f(sl, tl);
        y.backward();
        return (y.detach(), sl.grad!.detach(), tl.grad!.detach());
    }

    (int B, int Ds, int Dt)[] GradSizes => IsIlgpu
        ? [(2, 3, 2), (3, 1, 4), (4, 3, 5), (5, 2, 3)]
        : [(2, 3, 2), (3, 1, 4), (5, 3, 33), (17, 3, 1), (9, 33, 5)];

    (int B, int Ds, int Dt)[] LossParitySizes => IsIlgpu
        ? [(1, 3, 2), (2, 3, 5), (3, 1, 3), (5, 33, 3), (17, 3, 33), (3, 512, 17)]
        : [.. from b in new[] { 1, 2, 3, 5, 17, 64 } from d in new[] { 1, 3, 33, 512 } select (b, d, d == 512 ? 33 : d + 2)];

    [Test]
    public void Gradcheck_float64_both_inputs([Values] Loss loss)
    {
        using var _ = UseBackend();
        foreach (var (b, ds, dt) in GradSizes.Where(z => z.B >= MinBatch(loss)))
        {
            using var scope = NewDisposeScope();
            var s = Inputs.Randn([b, ds], salt: 1);
            var t = Inputs.Randn([b, dt], salt: 2);
            GradCheck.Check(Label(loss.ToString(), $"b={b}", $"Ds={ds}", $"Dt={dt}"), xs => Ours(loss, xs[0], xs[1]), s, t);
        }
    }

    [Test]
    public void Matches_the_authors_code_in_float64([Values] Loss loss)
    {
        using var _ = UseBackend();
        foreach (var (b, ds, dt) in LossParitySizes.Where(z => z.B >= MinBatch(loss)))
        {
            using var scope = NewDisposeScope();
            var s = Inputs.Randn([b, ds], salt: 3);
            var t = Inputs.Randn([b, dt], salt: 4);
            var ours = Eval((x, y) => Ours(loss, x, y), s, t);
            var reference = Eval((x, y) => Reference(loss, x, y), s, t);
            var oracle = Eval((x, y) => Oracle(loss, x, y), s, t);
            string at = Label(loss.ToString(), $"b={b}", $"Ds={ds}", $"Dt={dt}");
            // Values: the authors' code itself. Losses of constant relations (b ≤ 2, D = 1) are
            // pure round-off, so the comparison is absolute there.
            Tolerances.AssertClose(ours.Value, reference.Value, 1e-10, $"{at}: loss", floor: 1e-8);
            // In 1-D every angle is ±1 or 0: the exact gradient is 0 and the Gram form leaves
            // round-off (≈1e-9 at b = 17); it is bounded absolutely there.
            if (loss == Loss.Angle && ds == 1) Assert.That(Tolerances.Norm(ours.GradS), Is.LessThan(1e-7), $"{at}: 1-D student gradient is round-off");
            else Tolerances.AssertClose(ours.GradS, oracle.GradS, 1e-9, $"{at}: student gradient", floor: 1e-6);
            if (loss == Loss.Angle && dt == 1) Assert.That(Tolerances.Norm(ours.GradT), Is.LessThan(1e-7), $"{at}: 1-D teacher gradient is round-off");
            else Tolerances.AssertClose(ours.GradT, oracle.GradT, 1e-9, $"{at}: teacher gradient", floor: 1e-6);
            if (loss == Loss.Distance) Tolerances.AssertClose(ours.GradS, reference.GradS, 1e-9, $"{at}: student gradient vs authors'", floor: 1e-6);
        }
    }

    [Test]
    public void Teacher_without_grad_gets_none_and_student_gradient_is_unchanged([Values] Loss loss)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([5, 4], salt: 5).requires_grad_(true);
        var t = Inputs.Randn([5, 6], salt: 6);
        Ours(loss, s, t).backward();
        Assert.That(t.grad, Is.Null);
        var both = Eval((x, y) => Ours(loss, x, y), s, t);
        Assert.That(Tolerances.Identical(s.grad!, both.GradS), Is.True, "student gradient does not depend on the teacher requiring one");
    }

    public static IEnumerable<TestCaseData> Float32Cases()
    {
        foreach (var loss in new[] { Loss.Distance, Loss.Angle })
        foreach (var kind in new[] { "gaussian", "offset100", "near-collinear", "student≈teacher" })
            yield return new TestCaseData(loss, kind);
    }

    [TestCaseSource(nameof(Float32Cases))]
    public void Float32_meets_the_design_bars(Loss loss, string kind)
    {
        using var _ = UseBackend();
        var (b, ds, dt) = IsIlgpu ? (9, 17, 12) : (64, 96, 128);
        using var scope = NewDisposeScope();
        Tensor s64, t64;
        switch (kind)
        {
            case "offset100":
                s64 = Inputs.Offset([b, ds], salt: 7);
                t64 = Inputs.Offset([b, dt], salt: 8);
                break;
            case "near-collinear":
                // L2-normalised embeddings clustered around one direction (cosines ≈ 0.99).
                s64 = nn.functional.normalize(Inputs.Randn([1, ds], salt: 9) + 0.1 * Inputs.Randn([b, ds], salt: 10), dim: 1);
                t64 = nn.functional.normalize(Inputs.Randn([1, dt], salt: 11) + 0.1 * Inputs.Randn([b, dt], salt: 12), dim: 1);
                break;
            case "student≈teacher":
                t64 = Inputs.Randn([b, ds], salt: 13);
                s64 = Inputs.Perturbed(t64, 0.01);
                break;
            default:
                s64 = Inputs.Randn([b, ds], salt: 14);
                t64 = Inputs.Randn([b, dt], salt: 15);
                break;
        }
        // The float32 inputs hold exactly the float64 oracle's numbers.
        var s32 = s64.to(ScalarType.Float32);
        var t32 = t64.to(ScalarType.Float32);
        var ours = Eval((x, y) => Ours(loss, x, y), s32, t32);
        var oracle = Eval((x, y) => Oracle(loss, x, y), Inputs.Exact64(s32), Inputs.Exact64(t32));
        string at = Label(loss.ToString(), kind, $"b={b}");
        Tolerances.AssertClose(ours.Value, oracle.Value, 1e-4, $"{at}: float32 loss");
        Tolerances.AssertClose(ours.GradS, oracle.GradS, 1e-4, $"{at}: float32 student gradient");
    }

    [Test]
    public void Duplicate_student_rows_give_a_finite_gradient_where_the_reference_explodes()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.WithDuplicateRow(Inputs.Randn([6, 5], salt: 16), 3, 1);
        var t = Inputs.Randn([6, 4], salt: 17);
        var ours = Eval((x, y) => Ours(Loss.Angle, x, y), s, t);
        var reference = Eval((x, y) => Reference(Loss.Angle, x, y), s, t);
        var oracle = Eval((x, y) => Oracle(Loss.Angle, x, y), s, t);

        Tolerances.AssertClose(ours.Value, reference.Value, 1e-10, "loss value equals the authors' code");
        Assert.That(Tolerances.AllFinite(ours.GradS), Is.True, "our gradient is finite");
        Tolerances.AssertClose(ours.GradS, oracle.GradS, 1e-9, "our gradient: zero along the degenerate legs");
        Assert.That(Tolerances.MaxAbs(reference.GradS), Is.GreaterThan(1e6 * Tolerances.MaxAbs(ours.GradS)),
            "the authors' gradient is ~1e12-scaled at a duplicate row (the documented divergence)");

        // Distances: the duplicate pair sits at the clamp and passes no gradient, as in the authors' code.
        var oursD = Eval((x, y) => Ours(Loss.Distance, x, y), s, t);
        var refD = Eval((x, y) => Reference(Loss.Distance, x, y), s, t);
        Tolerances.AssertClose(oursD.Value, refD.Value, 1e-10, "distance loss value");
        Tolerances.AssertClose(oursD.GradS, refD.GradS, 1e-9, "distance loss gradient");
    }

    [Test]
    public void Sum_reduction_is_the_mean_times_the_entry_count([Values] Loss loss)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        int b = 5;
        var s = Inputs.Randn([b, 3], salt: 18);
        var t = Inputs.Randn([b, 4], salt: 19);
        double entries = loss == Loss.Distance ? b * b : b * b * b;
        var mean = Eval((x, y) => Ours(loss, x, y), s, t);
        var sum = Eval((x, y) => Ours(loss, x, y, nn.Reduction.Sum), s, t);
        Tolerances.AssertClose(sum.Value, mean.Value * entries, 1e-12, "sum value");
        Tolerances.AssertClose(sum.GradS, mean.GradS * entries, 1e-12, "sum gradient");
        Assert.That(() => Ours(loss, s, t, nn.Reduction.None),
            Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("reduction"));
    }

    [Test]
    public void Results_are_bit_identical_run_to_run([Values] Loss loss)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([IsIlgpu ? 7 : 33, 9], ScalarType.Float32, salt: 20);
        var t = Inputs.Randn([IsIlgpu ? 7 : 33, 5], ScalarType.Float32, salt: 21);
        var first = Eval((x, y) => Ours(loss, x, y), s, t);
        for (int i = 0; i < 3; i++)
        {
            var again = Eval((x, y) => Ours(loss, x, y), s, t);
            Assert.That(Tolerances.Identical(again.Value, first.Value) && Tolerances.Identical(again.GradS, first.GradS)
                        && Tolerances.Identical(again.GradT, first.GradT), Is.True, $"run {i + 2}");
        }
    }

    [Test]
    public void Module_weights_the_two_terms()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([6, 5], salt: 22);
        var t = Inputs.Randn([6, 7], salt: 23);
        var expected = 25 * gpukd.functional.rkd_distance_loss(s, t) + 50 * gpukd.functional.rkd_angle_loss(s, t);
        Tolerances.AssertClose(gpukd.RKDLoss().call(s, t), expected, 1e-14, "default weights 25 and 50");
        Tolerances.AssertClose(gpukd.RKDLoss(1, 0).call(s, t), gpukd.functional.rkd_distance_loss(s, t), 1e-14, "angle term skipped");
        Tolerances.AssertClose(gpukd.RKDLoss(0, 2).call(s, t), 2 * gpukd.functional.rkd_angle_loss(s, t), 1e-14, "distance term skipped");
        Assert.That(() => gpukd.RKDLoss(distance_weight: -1),
            Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("distance_weight"));
    }

    [Test]
    public void Bad_input_names_the_argument([Values] Loss loss)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([4, 3]);
        Assert.Multiple(() =>
        {
            Assert.That(() => Ours(loss, s, Inputs.Randn([5, 3])), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("teacher"), "batch mismatch");
            Assert.That(() => Ours(loss, s, Inputs.Randn([4, 3], ScalarType.Float32)), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("teacher"), "dtype mismatch");
            Assert.That(() => Ours(loss, s.to(ScalarType.Int32), s.to(ScalarType.Int32)), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("student"), "integer dtype");
            Assert.That(() => Ours(loss, Inputs.Randn([4]), s), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("student"), "rank 1");
            Assert.That(() => Ours(loss, s, zeros(4, 0, dtype: ScalarType.Float64)), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("teacher"), "empty");
        });
        if (loss == Loss.Distance)
            Assert.That(() => Ours(loss, Inputs.Randn([1, 3]), Inputs.Randn([1, 3])),
                Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("student"), "b = 1 has no distances to normalise by");
    }

    [Test]
    public void NaN_in_the_student_gives_a_non_finite_loss([Values] Loss loss)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.WithValueAt(Inputs.Randn([5, 3]), double.NaN, 2, 1);
        var t = Inputs.Randn([5, 3], salt: 1);
        Assert.That(Tolerances.AllFinite(Ours(loss, s, t)), Is.False);
        var previous = gpukd.check_inputs;
        try
        {
            gpukd.check_inputs = true;
            Assert.That(() => Ours(loss, s, t), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("student"));
        }
        finally { gpukd.check_inputs = previous; }
    }
}
