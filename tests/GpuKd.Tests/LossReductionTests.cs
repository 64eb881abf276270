using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The one reduction rule of every loss (<c>reduction = Mean</c>, TorchSharp's <see cref="nn.Reduction"/>), on both
/// backends in float64: Sum equals Mean × the documented count of terms, in value and in both gradients, and equals the
/// independent reference's mean × that count; Sum has a gradient that passes a float64 finite-difference check; None is
/// refused naming <c>reduction</c> where the terms are relation entries the fused op never stores, and where it is
/// given (elementwise / per-sample / per-pixel terms) it has the documented shape, sums to Sum and matches an
/// independent composition of the terms, gradient included; each loss module exposes <c>reduction</c> and equals its
/// functional.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public class LossReductionTests(KdBackend backend) : BackendFixture(backend)
{
    /// <summary>One loss: its functional under a reduction, the reference's Mean, the count Sum = Mean × count, and the
    /// shape of None's terms (null: None refused).</summary>
    public sealed record Case(string Name, Func<Tensor[], nn.Reduction, Tensor> Ours, Func<Tensor[], Tensor> ReferenceMean,
        Func<Tensor[], double> Count, Func<int, long[][]> Shapes, Func<Tensor[], long[]>? NoneShape = null, Func<Tensor[], Tensor>? NoneReference = null)
    {
        /// <summary>False where the gradient is by design not the derivative of the value (the authors' detached norm).</summary>
        public bool Differentiable { get; init; } = true;

        public override string ToString() => Name;
    }

    static Tensor PixelTerms(Tensor zs, Tensor zt, double temperature, SkdPixelwise mode)
    {
        var logS = (zs / temperature).log_softmax(1);
        var logT = (zt / temperature).log_softmax(1);
        var pT = logT.exp();
        return mode == SkdPixelwise.CrossEntropy ? -(pT * logS).sum(1) : (pT * (logT - logS)).sum(1) * (temperature * temperature);
    }

    static double B(Tensor[] xs) => xs[0].shape[0];

    public static IEnumerable<Case> Cases()
    {
        long[][] Pair(int b) => [[b, 5], [b, 7]];
        yield return new("rkd_distance_loss", (x, r) => gpukd.functional.rkd_distance_loss(x[0], x[1], r),
            x => ReferenceOps.RkdDistanceLoss(x[0], x[1]), x => B(x) * B(x), Pair);
        yield return new("rkd_angle_loss", (x, r) => gpukd.functional.rkd_angle_loss(x[0], x[1], r),
            x => ReferenceOps.RkdAngleLoss(x[0], x[1]), x => B(x) * B(x) * B(x), Pair);
        yield return new("sp_loss", (x, r) => gpukd.functional.sp_loss(x[0], x[1], r),
            x => ReferenceLosses.SpLoss(x[0], x[1]), x => B(x) * B(x), Pair);
        yield return new("cc_loss", (x, r) => gpukd.functional.cc_loss(x[0], x[1], reduction: r),
            x => ReferenceLosses.CcLoss(x[0], x[1]), x => B(x) * B(x), Pair);
        yield return new("cc_loss_rbf", (x, r) => gpukd.functional.cc_loss(x[0], x[1], CcKernel.Rbf, reduction: r),
            x => ReferenceLosses.CcLoss(x[0], x[1], CcKernel.Rbf), x => B(x) * B(x), Pair);
        yield return new("irg_edge_loss", (x, r) => gpukd.functional.irg_edge_loss(x[0], x[1], reduction: r),
            x => ReferenceLosses.IrgEdgeLoss(x[0], x[1]), x => B(x) * B(x), Pair);
        yield return new("irg_vertex_loss", (x, r) => gpukd.functional.irg_vertex_loss(x[0], x[1], r),
            x => ReferenceLosses.IrgVertexLoss(x[0], x[1]), x => B(x) * x[0].shape[1], b => [[b, 6], [b, 6]],
            NoneShape: x => x[0].shape, NoneReference: x => (x[0] - x[1]).square());
        yield return new("irg_transformation_loss", (x, r) => gpukd.functional.irg_transformation_loss(x[0], x[1], x[2], x[3], reduction: r),
            x => ReferenceLosses.IrgTransformationLoss(x[0], x[1], x[2], x[3]), B,
            b => [[b, 4, 4, 4], [b, 8, 2, 2], [b, 6, 4, 4], [b, 6, 2, 2]],
            NoneShape: x => [x[0].shape[0]],
            NoneReference: x => (ReferenceLosses.IrgTransformVector(x[0], x[1]) - ReferenceLosses.IrgTransformVector(x[2], x[3])).square());
        // DIST adds two parts with different counts (b rows, K columns): each part alone is Mean × its count.
        yield return new("dist_loss_inter", (x, r) => gpukd.functional.dist_loss(x[0], x[1], 1, 0, reduction: r),
            x => ReferenceChannelLosses.DistLoss(x[0], x[1], 1, 0), B, b => [[b, 6], [b, 6]]);
        yield return new("dist_loss_intra", (x, r) => gpukd.functional.dist_loss(x[0], x[1], 0, 1, 2, r),
            x => ReferenceChannelLosses.DistLoss(x[0], x[1], 0, 1, 2), x => x[0].shape[1], b => [[b, 6], [b, 6]]);
        // Pooled 6×6 at scale 0.5: 3×3 windows, 2×2 = 4 nodes per image; full resolution: 36 nodes. The authors' default
        // holds the node norms constant in the backward (no finite-difference check); the second case differentiates them.
        yield return new("skd_pairwise_loss", (x, r) => gpukd.functional.skd_pairwise_loss(x[0], x[1], reduction: r),
            x => ReferenceSkd.PairwiseLoss(x[0], x[1]), x => B(x) * 4 * 4, b => [[b, 5, 6, 6], [b, 7, 6, 6]]) { Differentiable = false };
        yield return new("skd_pairwise_loss_full", (x, r) => gpukd.functional.skd_pairwise_loss(x[0], x[1], pool: SkdPool.None, detach_norm: false, reduction: r),
            x => ReferenceSkd.PairwiseLoss(x[0], x[1], pool: SkdPool.None, detachNorm: false), x => B(x) * 36 * 36, b => [[b, 5, 6, 6], [b, 7, 6, 6]]);
        yield return new("skd_pixelwise_loss", (x, r) => gpukd.functional.skd_pixelwise_loss(x[0], x[1], reduction: r),
            x => ReferenceSkd.PixelwiseLoss(x[0], x[1]), x => (double)x[0].shape[2] * x[0].shape[3], b => [[b, 4, 3, 5], [b, 4, 3, 5]],
            NoneShape: x => [x[0].shape[0], x[0].shape[2], x[0].shape[3]], NoneReference: x => PixelTerms(x[0], x[1], 1, SkdPixelwise.CrossEntropy));
        yield return new("skd_pixelwise_loss_kl", (x, r) => gpukd.functional.skd_pixelwise_loss(x[0], x[1], 2, SkdPixelwise.TemperatureKl, r),
            x => ReferenceSkd.PixelwiseLoss(x[0], x[1], 2, SkdPixelwise.TemperatureKl), x => B(x) * x[0].shape[2] * x[0].shape[3],
            b => [[b, 4, 3, 5], [b, 4, 3, 5]],
            NoneShape: x => [x[0].shape[0], x[0].shape[2], x[0].shape[3]], NoneReference: x => PixelTerms(x[0], x[1], 2, SkdPixelwise.TemperatureKl));
        // FSP: one layer pair per side (student bot pooled 4×4 → 2×2; the teacher's at equal sizes); count B·Ct·Cb.
        yield return new("fsp_loss", (x, r) => gpukd.functional.fsp_loss([x[0], x[1]], [x[2], x[3]], reduction: r),
            x => ReferenceChannelLosses.FspLoss([x[0], x[1]], [x[2], x[3]]), x => B(x) * x[1].shape[1] * x[0].shape[1],
            b => [[b, 3, 4, 4], [b, 5, 2, 2], [b, 3, 3, 3], [b, 5, 3, 3]]);
    }

    static Tensor[] Make(Case c, int b, int salt) => c.Shapes(b).Select((s, k) => Inputs.Randn(s, salt: salt + 17 * k)).ToArray();

    /// <summary>Value and the gradient of every input of Σ W ⊙ f(inputs) (W = 1 for a scalar, fixed random otherwise).</summary>
    static (Tensor Value, Tensor[] Grads) Eval(Func<Tensor[], Tensor> f, Tensor[] xs, Tensor? weights = null)
    {
        var leaves = xs.Select(x => x.detach().clone().requires_grad_(true)).ToArray();
        var y = f(leaves);
        (weights is null ? y.sum() : (y * weights).sum()).backward();
        return (y.detach(), leaves.Select(l => l.grad!.detach()).ToArray());
    }

    int[] Batches => IsIlgpu ? [1, 3] : [1, 2, 5];

    [TestCaseSource(nameof(Cases))]
    public void Sum_is_the_mean_times_the_documented_count(Case c)
    {
        using var _ = UseBackend();
        foreach (int b in Batches)
        {
            if (c.Name == "rkd_distance_loss" && b < 2) continue;   // needs a positive distance
            using var scope = NewDisposeScope();
            var xs = Make(c, b, salt: 40 + b);
            double count = c.Count(xs);
            var mean = Eval(x => c.Ours(x, nn.Reduction.Mean), xs);
            var sum = Eval(x => c.Ours(x, nn.Reduction.Sum), xs);
            string at = Label(c.Name, $"b={b}", $"count={count}");
            Assert.That(sum.Value.shape, Is.Empty, $"{at}: Sum is a 0-d tensor");
            Tolerances.AssertClose(sum.Value, mean.Value * count, 1e-12, $"{at}: Sum value = Mean × count", floor: 1e-12);
            for (int i = 0; i < xs.Length; i++)
                Tolerances.AssertClose(sum.Grads[i], mean.Grads[i] * count, 1e-12, $"{at}: Sum gradient {i} = Mean's × count", floor: 1e-12);
            // The reference computes the published mean independently: its mean × count is the sum over the same terms.
            using var reference = c.ReferenceMean(xs);
            Tolerances.AssertClose(sum.Value, reference * count, 1e-10, $"{at}: Sum = the reference's mean × count", floor: 1e-10);
        }
    }

    /// <summary>The cases whose gradient is the derivative of their value.</summary>
    public static IEnumerable<Case> DifferentiableCases() => Cases().Where(c => c.Differentiable);

    [TestCaseSource(nameof(DifferentiableCases))]
    public void Sum_passes_a_float64_gradient_check(Case c)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var xs = Make(c, 3, salt: 60);
        GradCheck.Check(Label(c.Name, "Sum"), x => c.Ours(x, nn.Reduction.Sum), xs);
    }

    [TestCaseSource(nameof(Cases))]
    public void None_is_refused_naming_reduction_or_gives_the_terms(Case c)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var xs = Make(c, 3, salt: 70);
        if (c.NoneShape is null)
        {
            Assert.That(() => c.Ours(xs, nn.Reduction.None), Throws.InstanceOf<ArgumentException>()
                .With.Property("ParamName").EqualTo("reduction").And.Message.Contains("None").And.Message.Contains(c.Name.Split("_loss")[0] + "_loss"),
                Label(c.Name, "None refused"));
        }
        else
        {
            var weights = Inputs.Randn(c.NoneShape(xs), salt: 71);
            var none = Eval(x => c.Ours(x, nn.Reduction.None), xs, weights);
            var oracle = Eval(c.NoneReference!, xs, weights);
            var sum = c.Ours(xs, nn.Reduction.Sum);
            string at = Label(c.Name, "None");
            Assert.That(none.Value.shape, Is.EqualTo(c.NoneShape(xs)), $"{at}: shape of the terms");
            Tolerances.AssertClose(none.Value.sum(), sum, 1e-12, $"{at}: the terms add up to Sum");
            Tolerances.AssertClose(none.Value, oracle.Value, 1e-10, $"{at}: the terms equal an independent composition");
            for (int i = 0; i < xs.Length; i++)
                Tolerances.AssertClose(none.Grads[i], oracle.Grads[i], 1e-10, $"{at}: gradient {i} of Σ W ⊙ terms", floor: 1e-10);
            GradCheck.Check(at, x => c.Ours(x, nn.Reduction.None), xs);
        }
        Assert.That(() => c.Ours(xs, (nn.Reduction)7), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("reduction"),
            Label(c.Name, "undefined reduction"));
    }

    [Test]
    public void List_losses_reduce_each_part_and_keep_the_weights()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        int b = IsIlgpu ? 3 : 5;
        var s = new[] { Inputs.Randn([b, 4, 4, 4], salt: 80), Inputs.Randn([b, 8, 2, 2], salt: 81) };
        var t = new[] { Inputs.Randn([b, 6, 4, 4], salt: 82), Inputs.Randn([b, 6, 2, 2], salt: 83) };
        var zs = Inputs.Randn([b, 10], salt: 84);
        var zt = Inputs.Randn([b, 10], salt: 85);
        double bb = (double)b * b;

        // SP over layers: Σ_l w_l · b² · mean_l.
        var spSum = gpukd.functional.sp_loss(s, t, [2.0, 0.5], nn.Reduction.Sum);
        var spExpected = 2.0 * bb * ReferenceLosses.SpLoss(s[0], t[0]) + 0.5 * bb * ReferenceLosses.SpLoss(s[1], t[1]);
        Tolerances.AssertClose(spSum, spExpected, 1e-10, Label("sp_loss layers", "Sum"));
        Assert.That(() => gpukd.functional.sp_loss(s, t, null, nn.Reduction.None), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("reduction"));

        // IRG: w_v·(b·K)·vertex + w_e·mean over pairs of b²·edge_l + w_t·mean over transitions of b·trans.
        var irgSum = gpukd.functional.irg_loss(s, t, zs, zt, vertex_weight: 0.1, edge_weight: 5, transformation_weight: 5, reduction: nn.Reduction.Sum);
        var irgExpected = 0.1 * (b * 10.0) * ReferenceLosses.IrgVertexLoss(zs, zt)
                          + 5 * (bb * ReferenceLosses.IrgEdgeLoss(s[0], t[0]) + bb * ReferenceLosses.IrgEdgeLoss(s[1], t[1])) / 2
                          + 5 * b * ReferenceLosses.IrgTransformationLoss(s[0], s[1], t[0], t[1]);
        Tolerances.AssertClose(irgSum, irgExpected, 1e-10, Label("irg_loss", "Sum"));
        Tolerances.AssertClose(gpukd.functional.irg_loss(s, t, zs, zt), ReferenceLosses.IrgLoss(s, t, zs, zt), 1e-10, Label("irg_loss", "Mean"));
        Assert.That(() => gpukd.functional.irg_loss(s, t, zs, zt, reduction: nn.Reduction.None),
            Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("reduction").And.Message.Contains("different shapes"));
    }

    [Test]
    public void Modules_expose_reduction_and_equal_their_functionals([Values(nn.Reduction.Mean, nn.Reduction.Sum)] nn.Reduction reduction)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        int b = IsIlgpu ? 3 : 5;
        var s = Inputs.Randn([b, 5], salt: 90);
        var t = Inputs.Randn([b, 7], salt: 91);
        void Check<TModule>(TModule module, Func<TModule, Tensor> call, Tensor expected, string name) where TModule : nn.Module
        {
            Assert.That(module.GetType().GetProperty("reduction")!.GetValue(module), Is.EqualTo(reduction), Label(name, "reduction property"));
            Tolerances.AssertClose(call(module), expected, 1e-14, Label(name, reduction));
        }
        Check(gpukd.RKDLoss(reduction: reduction), m => m.call(s, t),
            25 * gpukd.functional.rkd_distance_loss(s, t, reduction) + 50 * gpukd.functional.rkd_angle_loss(s, t, reduction), "RKDLoss");
        Check(gpukd.SPLoss(reduction), m => m.call(s, t), gpukd.functional.sp_loss(s, t, reduction), "SPLoss");
        Check(gpukd.CCLoss(CcKernel.Rbf, 0.7, reduction: reduction), m => m.call(s, t),
            gpukd.functional.cc_loss(s, t, CcKernel.Rbf, 0.7, reduction: reduction), "CCLoss");

        var layersS = new[] { Inputs.Randn([b, 4, 4, 4], salt: 92), Inputs.Randn([b, 8, 2, 2], salt: 93) };
        var layersT = new[] { Inputs.Randn([b, 6, 4, 4], salt: 94), Inputs.Randn([b, 6, 2, 2], salt: 95) };
        var zs = Inputs.Randn([b, 10], salt: 96);
        var zt = Inputs.Randn([b, 10], salt: 97);
        Check(gpukd.IRGLoss(reduction: reduction), m => m.call(new IrgFeatures(layersS, zs), new IrgFeatures(layersT, zt)),
            gpukd.functional.irg_loss(layersS, layersT, zs, zt, reduction: reduction), "IRGLoss");

        var ls = Inputs.Randn([2, 4, 6, 6], salt: 98);
        var lt = Inputs.Randn([2, 4, 6, 6], salt: 99);
        var fs = Inputs.Randn([2, 5, 6, 6], salt: 100);
        var ft = Inputs.Randn([2, 7, 6, 6], salt: 101);
        Check(gpukd.StructuredKDLoss(reduction: reduction), m => m.call(ls, lt, fs, ft),
            10 * gpukd.functional.skd_pixelwise_loss(ls, lt, reduction: reduction) + gpukd.functional.skd_pairwise_loss(fs, ft, reduction: reduction),
            "StructuredKDLoss");

        var fspS = new[] { Inputs.Randn([b, 3, 4, 4], salt: 102), Inputs.Randn([b, 5, 2, 2], salt: 103), Inputs.Randn([b, 2, 2, 2], salt: 104) };
        var fspT = new[] { Inputs.Randn([b, 3, 3, 3], salt: 105), Inputs.Randn([b, 5, 3, 3], salt: 106), Inputs.Randn([b, 2, 2, 2], salt: 107) };
        Check(gpukd.FSPLoss([0.5, 2], reduction), m => m.call(fspS, fspT), gpukd.functional.fsp_loss(fspS, fspT, [0.5, 2], reduction), "FSPLoss");
    }

    [Test]
    public void Loss_modules_refuse_None_at_creation()
    {
        Assert.Multiple(() =>
        {
            foreach (var (name, make) in new (string, Action)[]
            {
                ("RKDLoss", () => gpukd.RKDLoss(reduction: nn.Reduction.None)),
                ("SPLoss", () => gpukd.SPLoss(nn.Reduction.None)),
                ("CCLoss", () => gpukd.CCLoss(reduction: nn.Reduction.None)),
                ("IRGLoss", () => gpukd.IRGLoss(reduction: nn.Reduction.None)),
                ("StructuredKDLoss", () => gpukd.StructuredKDLoss(reduction: nn.Reduction.None)),
                ("FSPLoss", () => gpukd.FSPLoss(reduction: nn.Reduction.None)),
            })
                Assert.That(() => make(), Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo("reduction")
                    .And.Message.Contains(name), name);
        });
    }

    [Test]
    public void Holistic_terms_reduce_over_the_batch()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        using var d = gpukd.SkdDiscriminator(3, base_channels: 4, depth: 2);
        d.to(ScalarType.Float64).eval();   // eval: no power-iteration update between the calls compared
        var zs = Inputs.Randn([4, 3, 8, 8], salt: 110);
        var zt = Inputs.Randn([4, 3, 8, 8], salt: 111);
        var gMean = gpukd.functional.skd_holistic_generator_loss(d, zs);
        var gSum = gpukd.functional.skd_holistic_generator_loss(d, zs, reduction: nn.Reduction.Sum);
        var gNone = gpukd.functional.skd_holistic_generator_loss(d, zs, reduction: nn.Reduction.None);
        Assert.That(gNone.shape, Is.EqualTo(new long[] { 4 }));
        Tolerances.AssertClose(gSum, gMean * 4, 1e-12, "generator Sum = Mean × B");
        Tolerances.AssertClose(gNone, -0.1 * d.forward(zs), 1e-14, "generator None = −λ_d·D(z_S)");
        Tensor Disc(nn.Reduction r) => gpukd.functional.skd_holistic_discriminator_loss(d, zs, zt, generator: new Generator(5), reduction: r);
        var dMean = Disc(nn.Reduction.Mean);
        var dSum = Disc(nn.Reduction.Sum);
        var dNone = Disc(nn.Reduction.None);
        Assert.That(dNone.shape, Is.EqualTo(new long[] { 4 }));
        Tolerances.AssertClose(dSum, dMean * 4, 1e-12, "discriminator Sum = Mean × B");
        Tolerances.AssertClose(dNone.sum(), dSum, 1e-12, "discriminator None sums to Sum");
    }
}
