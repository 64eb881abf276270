using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The float32 input classes where a loss's value or student gradient is a small difference of large
/// terms (issue: float32 accuracy, part 3): student ≈ teacher (1% relative noise: late training),
/// near-collinear unit embeddings, features with a large common offset (mean 100, spread 1), and
/// collinear points (D = 1, where the angles are ±1 and their exact gradient is 0). Each loss is held
/// to the DESIGN §5 bar (1e-4 relative to a float64 evaluation of the published formula on the same
/// rounded numbers) and to "not worse than the published composition run in float32".
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class Float32LossClassTests(KdBackend backend) : BackendFixture(backend)
{
    public sealed record LossUnderTest(string Name, Func<Tensor, Tensor, Tensor> Ours, Func<Tensor, Tensor, Tensor> Reference,
                                       Func<Tensor, Tensor, Tensor> Oracle)
    {
        public override string ToString() => Name;
    }

    static readonly LossUnderTest[] Losses =
    [
        new("rkd_distance_loss", (s, t) => gpukd.functional.rkd_distance_loss(s, t), ReferenceOps.RkdDistanceLoss, ReferenceOps.RkdDistanceLoss),
        new("rkd_angle_loss", (s, t) => gpukd.functional.rkd_angle_loss(s, t), (s, t) => ReferenceOps.RkdAngleLoss(s, t, maskSelfLegs: true),
            (s, t) => ReferenceOps.SmoothL1Mean(DegenerateAwareOracle.TripletAngles(s).reshape(-1), DegenerateAwareOracle.TripletAngles(t).reshape(-1))),
        new("irg_edge_loss", (s, t) => gpukd.functional.irg_edge_loss(s, t), (s, t) => ReferenceLosses.IrgEdgeLoss(s, t), (s, t) => ReferenceLosses.IrgEdgeLoss(s, t)),
        new("sp_loss", (s, t) => gpukd.functional.sp_loss(s, t), ReferenceLosses.SpLoss, LossOracles.Sp),
        new("cc_loss", (s, t) => gpukd.functional.cc_loss(s, t), (s, t) => ReferenceLosses.CcLoss(s, t),
            (s, t) => LossOracles.Cc(s, t, CcKernel.TaylorRbf, 0.4, 2)),
    ];

    static LossUnderTest Get(string name) => Losses.Single(l => l.Name == name);

    /// <summary>(value error, student-gradient error) of f on (s32, t32) against the oracle on the same numbers in float64.</summary>
    static (double Value, double Grad) Errors(Func<Tensor, Tensor, Tensor> f, Func<Tensor, Tensor, Tensor> oracle, Tensor s32, Tensor t32)
    {
        using var scope = NewDisposeScope();
        var (v, gs, _) = PairAutodiff.Run(f, s32, t32, true, false);
        var (v64, gs64, _) = PairAutodiff.Run(oracle, Inputs.Exact64(s32), Inputs.Exact64(t32), true, false);
        return (Tolerances.RelErr(v, v64), Tolerances.RelErr(gs!, gs64!));
    }

    /// <summary>Input classes: (student, teacher), float64 numbers that float32 holds exactly.</summary>
    static (Tensor S, Tensor T) Inputs_(string kind, int b, int d)
    {
        switch (kind)
        {
            case "student≈teacher":
            {
                var t = Inputs.Randn([b, d], ScalarType.Float32, salt: 21);
                return (Inputs.Perturbed(t, 0.01), t);
            }
            case "near-collinear":
            {
                // Unit embeddings clustered around one direction (cosines ≈ 0.99).
                var s = nn.functional.normalize(Inputs.Randn([1, d], salt: 22) + 0.1 * Inputs.Randn([b, d], salt: 23), dim: 1);
                var t = nn.functional.normalize(Inputs.Randn([1, d], salt: 24) + 0.1 * Inputs.Randn([b, d], salt: 25), dim: 1);
                return (s.to(ScalarType.Float32), t.to(ScalarType.Float32));
            }
            case "offset100":
                return (Inputs.Offset([b, d], ScalarType.Float32, salt: 26), Inputs.Offset([b, d + 5], ScalarType.Float32, salt: 27));
            default: throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }

    public static readonly string[] Kinds = ["student≈teacher", "near-collinear", "offset100"];

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var kind in Kinds)
            foreach (var l in Losses)
                yield return new TestCaseData(kind, l.Name);
    }

    (int B, int D)[] Sizes => IsIlgpu ? [(9, 17), (17, 33)] : [(31, 257), (64, 33), (17, 1000), (5, 7)];

    /// <summary>
    /// "Not worse than the float32 reference" up to rounding-order noise: the same class of algorithm (a float32 GEMM)
    /// reorders the same roundings, so ours may exceed the reference's error by 25% or by 5e-6 (20× inside the bar).
    /// One rule for every loss and class: the angle loss at student ≈ teacher, which needed 3× while G_aa's float32
    /// rounding was coherent over each apex's angles, meets it since G_aa is kept as a float pair (kernels/Maths/AngleMath).
    /// </summary>
    static double Allowance(double reference) => Math.Max(1.25 * reference, reference + 5e-6);

    [TestCaseSource(nameof(Cases))]
    public void Float32_meets_the_bar_and_is_not_worse_than_the_float32_reference(string kind, string loss)
    {
        using var _ = UseBackend();
        var l = Get(loss);
        foreach (var (b, d) in Sizes)
        {
            using var scope = NewDisposeScope();
            var (s, t) = Inputs_(kind, b, d);
            var ours = Errors(l.Ours, l.Oracle, s, t);
            var reference = Errors(l.Reference, l.Oracle, s, t);
            string at = Label(loss, kind, $"b={b}", $"D={d}");
            TestContext.Out.WriteLine($"{at}: ours value {ours.Value:E2} grad {ours.Grad:E2} | float32 reference value {reference.Value:E2} grad {reference.Grad:E2}");
            Assert.That(ours.Value, Is.LessThanOrEqualTo(Tolerances.Float32Bar), $"{at}: value");
            Assert.That(ours.Grad, Is.LessThanOrEqualTo(Tolerances.Float32Bar), $"{at}: student gradient");
            Assert.That(ours.Value, Is.LessThanOrEqualTo(Allowance(reference.Value)), $"{at}: value worse than the float32 reference's {reference.Value:E2}");
            Assert.That(ours.Grad, Is.LessThanOrEqualTo(Allowance(reference.Grad)), $"{at}: gradient worse than the float32 reference's {reference.Grad:E2}");
        }
    }

    /// <summary>
    /// The class has teeth: at the offset and near-collinear inputs the float32 reference misses the bar for CC (and at
    /// offset 100 for IRG edge and RKD distance), so meeting it takes more than a float32 composition.
    /// </summary>
    [Test]
    public void The_float32_reference_misses_the_bar_on_these_classes()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var (b, d) = IsIlgpu ? (17, 33) : (31, 257);
        foreach (var (kind, loss) in new[] { ("offset100", "cc_loss"), ("offset100", "irg_edge_loss"), ("offset100", "rkd_distance_loss") })
        {
            var (s, t) = Inputs_(kind, b, d);
            var reference = Errors(Get(loss).Reference, Get(loss).Oracle, s, t);
            Assert.That(reference.Grad, Is.GreaterThan(Tolerances.Float32Bar), $"{loss} {kind}: the float32 reference was expected to miss the bar");
        }
        var (s2, t2) = Inputs_("near-collinear", 17, 1000);
        Assert.That(Errors(Get("cc_loss").Reference, Get("cc_loss").Oracle, s2, t2).Grad, Is.GreaterThan(Tolerances.Float32Bar), "cc_loss near-collinear D = 1000");
    }

    /// <summary>
    /// Collinear points (D = 1): every angle is 0 or ±1 and locally constant, so the exact gradient is 0; the
    /// reference's 1-D normalisation backward cancels exactly, and GpuKd returns exactly 0 (the Gram-form passes
    /// left ~1e-6). Values still match the oracle; NaN still propagates.
    /// </summary>
    [Test]
    public void Collinear_points_give_an_exactly_zero_angle_gradient([Values(ScalarType.Float32, ScalarType.Float64)] ScalarType dtype)
    {
        using var _ = UseBackend();
        foreach (var b in IsIlgpu ? new[] { 2, 3, 9 } : [2, 3, 17, 64])
        {
            using var scope = NewDisposeScope();
            var x = Inputs.Randn([b, 1], dtype, salt: 31);
            var t = Inputs.Randn([b, 1], dtype, salt: 32);
            string at = Label("collinear", $"b={b}", dtype);
            var (angles, gx) = Autodiff.ValueAndGrad(gpukd.functional.triplet_angles, x);
            var (anglesOracle, _) = Autodiff.ValueAndGrad(DegenerateAwareOracle.TripletAngles, Inputs.Exact64(x));
            // float32 values: the Gram-form numerator of two short legs (close points, common on a line) cancels, 2e-4
            // here (the reference's direct differences do not); a known gap of the values, not of this gradient fix.
            Tolerances.AssertClose(angles, anglesOracle, dtype == ScalarType.Float32 ? 1e-3 : Tolerances.Float64Parity, $"{at}: triplet angles");
            Assert.That(Tolerances.MaxAbs(gx), Is.EqualTo(0.0), $"{at}: triplet-angle gradient");
            var (v, gs, gt) = PairAutodiff.Run((p, q) => gpukd.functional.rkd_angle_loss(p, q), x, t);
            var (vOracle, _, _) = PairAutodiff.Run(Get("rkd_angle_loss").Oracle, Inputs.Exact64(x), Inputs.Exact64(t), false, false);
            Tolerances.AssertClose(v, vOracle, dtype == ScalarType.Float32 ? 1e-4 : Tolerances.Float64Parity, $"{at}: angle loss", floor: 1);   // the loss is O(1); b = 2 gives exactly 0
            Assert.That(Tolerances.MaxAbs(gs!) + Tolerances.MaxAbs(gt!), Is.EqualTo(0.0), $"{at}: angle-loss gradients");
            // A 1-D student against a wide teacher: the student's gradient is 0, the teacher's is not.
            var wide = Inputs.Randn([b, 5], dtype, salt: 33);
            var (_, gs1, gtWide) = PairAutodiff.Run((p, q) => gpukd.functional.rkd_angle_loss(p, q), x, wide);
            Assert.That(Tolerances.MaxAbs(gs1!), Is.EqualTo(0.0), $"{at}: 1-D student against a 5-D teacher");
            if (b >= 3) Assert.That(Tolerances.MaxAbs(gtWide!), Is.GreaterThan(0.0), $"{at}: the 5-D teacher's gradient");
            // NaN in a 1-D input: non-finite gradient, never a finite wrong one.
            var xn = Inputs.WithValueAt(x, double.NaN, 0, 0);
            var (_, gn) = Autodiff.ValueAndGrad(gpukd.functional.triplet_angles, xn);
            Assert.That(Tolerances.AllFinite(gn), Is.False, $"{at}: NaN input");
        }
    }

    [Test, Explicit("measurement: prints GpuKd's and the float32 reference's errors per class")]
    public void Measure_classes()
    {
        using var _ = UseBackend();
        var sizes = IsIlgpu ? new[] { (9, 17), (17, 33) } : [(31, 257), (64, 33), (17, 1000)];
        foreach (var kind in Kinds)
            foreach (var (b, d) in sizes)
                foreach (var l in Losses)
                {
                    using var scope = NewDisposeScope();
                    var (s, t) = Inputs_(kind, b, d);
                    var ours = Errors(l.Ours, l.Oracle, s, t);
                    var reference = Errors(l.Reference, l.Oracle, s, t);
                    TestContext.Out.WriteLine($"[{Backend}] {kind,-16} b={b,3} D={d,4} {l.Name,-18} ours value {ours.Value:E2} grad {ours.Grad:E2} | reference value {reference.Value:E2} grad {reference.Grad:E2}");
                }
    }
}
