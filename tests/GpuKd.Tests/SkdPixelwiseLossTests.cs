using GpuKd.Reference;
using NUnit.Framework;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>Structured-KD pixel-wise loss: parity with the authors' composition (both modes, temperatures), gradient
/// checks for both inputs, float32 at student ≈ teacher (the KL is a small difference), odd maps, bad inputs; and the
/// <see cref="Modules.StructuredKDLoss"/> module.</summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class SkdPixelwiseLossTests(KdBackend backend) : BackendFixture(backend)
{
    static readonly (int B, int K, int H, int W)[] Shapes = [(1, 1, 1, 1), (1, 2, 1, 1), (2, 3, 5, 4), (3, 19, 7, 9), (2, 5, 1, 13)];

    [Test]
    public void Matches_the_reference([Values] SkdPixelwise mode, [Values(1.0, 2.5)] double temperature)
    {
        using var _ = UseBackend();
        foreach (var (b, k, h, w) in Shapes)
        {
            using var scope = NewDisposeScope();
            var s = 3 * Inputs.Randn([b, k, h, w], salt: 1);
            var t = 3 * Inputs.Randn([b, k, h, w], salt: 2);
            var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.skd_pixelwise_loss(x, y, temperature, mode), s, t);
            var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PixelwiseLoss(x, y, temperature, mode), s, t);
            SkdCases.AssertSame(fused, oracle, Tolerances.Float64Parity, Label("skd_pixelwise_loss", $"[{b},{k},{h},{w}]", mode, $"T={temperature}"), 1e-6);
        }
    }

    [Test]
    public void Vector_groups_tails_work_units_and_many_classes_match_the_reference([Values] SkdPixelwise mode,
        [Values(ScalarType.Float64, ScalarType.Float32)] ScalarType dtype)
    {
        // The CPU kernel runs groups of adjacent pixels (a zero-padded copy for an image's ragged last group), in work
        // units of 512 pixels, with a heap scratch above 128 classes; float32 cross-entropy takes float32 exps. Shapes:
        // fewer pixels than a group, one group + a tail, several units per image with a tail, 150 classes.
        using var _ = UseBackend();
        foreach (var (b, k, h, w) in new[] { (2, 4, 1, 3), (2, 19, 1, 13), (3, 5, 23, 29), (2, 150, 9, 7) })
        foreach (var temperature in new[] { 1.0, 3.0 })
        {
            using var scope = NewDisposeScope();
            var s = (4 * Inputs.Randn([b, k, h, w], salt: 31)).to(dtype);
            var t = (4 * Inputs.Randn([b, k, h, w], salt: 32)).to(dtype);
            var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.skd_pixelwise_loss(x, y, temperature, mode), s, t);
            var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PixelwiseLoss(x, y, temperature, mode), Inputs.Exact64(s), Inputs.Exact64(t));
            var label = Label("skd_pixelwise_loss", $"[{b},{k},{h},{w}]", mode, dtype, $"T={temperature}");
            if (dtype == ScalarType.Float64) SkdCases.AssertSame(fused, oracle, Tolerances.Float64Parity, label);
            else SkdCases.AssertSame(fused, oracle, Tolerances.Float32Bar / 10, label);
        }
    }

    [Test]
    public void Extreme_logits_stay_finite_and_match_the_reference([Values] SkdPixelwise mode)
    {
        // Logits far apart (the exps underflow to 0 for all but one class: the kernels flush e^x below −708 / −87 to 0)
        // and large in magnitude; the terms and gradients are finite and match the float64 oracle.
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = 300 * Inputs.Randn([2, 7, 5, 11], salt: 33);
        var t = 300 * Inputs.Randn([2, 7, 5, 11], salt: 34);
        foreach (var dtype in new[] { ScalarType.Float64, ScalarType.Float32 })
        {
            var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.skd_pixelwise_loss(x, y, 1.0, mode), s.to(dtype), t.to(dtype));
            var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PixelwiseLoss(x, y, 1.0, mode), Inputs.Exact64(s.to(dtype)), Inputs.Exact64(t.to(dtype)));
            Assert.That(fused.Value.isfinite().all().item<bool>() && fused.GradS.isfinite().all().item<bool>() && fused.GradT.isfinite().all().item<bool>(),
                        Label("skd_pixelwise_loss", mode, dtype, "finite"));
            SkdCases.AssertSame(fused, oracle, dtype == ScalarType.Float64 ? Tolerances.Float64Parity : Tolerances.Float32Bar / 10,
                                Label("skd_pixelwise_loss extreme", mode, dtype));
        }
    }

    [Test]
    public void Default_is_the_authors_cross_entropy()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([2, 4, 3, 5], salt: 3);
        var t = Inputs.Randn([2, 4, 3, 5], salt: 4);
        // −Σ softmax(z_T)·log_softmax(z_S) over [N·H·W, C] rows, / W / H (the authors' permute-view form).
        var rowsS = s.permute(0, 2, 3, 1).reshape(-1, 4);
        var rowsT = t.permute(0, 2, 3, 1).reshape(-1, 4);
        var expected = (-(rowsT.softmax(1) * rowsS.log_softmax(1))).sum() / 5.0 / 3.0;
        Tolerances.AssertClose(gpukd.functional.skd_pixelwise_loss(s, t), expected, Tolerances.Float64Parity, Label("skd_pixelwise_loss", "authors"));
    }

    [Test]
    public void Gradient_check_float64([Values] SkdPixelwise mode)
    {
        using var _ = UseBackend();
        foreach (var (b, k, h, w) in new[] { (2, 3, 2, 3), (1, 5, 3, 1) })
        {
            using var scope = NewDisposeScope();
            GradCheck.Check(Label("skd_pixelwise_loss gradcheck", $"[{b},{k},{h},{w}]", mode),
                            xs => gpukd.functional.skd_pixelwise_loss(xs[0], xs[1], 1.7, mode),
                            Inputs.Randn([b, k, h, w], salt: 5), Inputs.Randn([b, k, h, w], salt: 6));
        }
    }

    [Test]
    public void Student_close_to_teacher_float32_meets_the_bar([Values] SkdPixelwise mode)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var t = (3 * Inputs.Randn([2, 19, 9, 11], salt: 7)).to(ScalarType.Float32);
        var s = Inputs.Perturbed(t, 0.01);
        var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.skd_pixelwise_loss(x, y, 2.0, mode), s, t);
        var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PixelwiseLoss(x, y, 2.0, mode), Inputs.Exact64(s), Inputs.Exact64(t));
        SkdCases.AssertSame(fused, oracle, Tolerances.Float32Bar, Label("skd_pixelwise_loss float32 ≈", mode));
    }

    [Test]
    public void Only_inputs_that_require_grad_get_one()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([2, 3, 4, 4]).requires_grad_(true);
        var t = Inputs.Randn([2, 3, 4, 4], salt: 1);
        gpukd.functional.skd_pixelwise_loss(s, t).backward();
        Assert.That(s.grad, Is.Not.Null);
        Assert.That(t.grad, Is.Null);
    }

    [Test]
    public void Bad_inputs_name_the_argument()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([2, 3, 4, 4]);
        Assert.That(() => gpukd.functional.skd_pixelwise_loss(s, Inputs.Randn([2, 4, 4, 4])), Throws.ArgumentException.With.Property("ParamName").EqualTo("teacher_logits"));
        Assert.That(() => gpukd.functional.skd_pixelwise_loss(s.reshape(2, 3, 16), s), Throws.ArgumentException.With.Property("ParamName").EqualTo("student_logits"));
        Assert.That(() => gpukd.functional.skd_pixelwise_loss(s, s, temperature: 0), Throws.ArgumentException.With.Property("ParamName").EqualTo("temperature"));
        Assert.That(() => gpukd.functional.skd_pixelwise_loss(s, s, mode: (SkdPixelwise)5), Throws.ArgumentException.With.Property("ParamName").EqualTo("mode"));
    }

    [Test]
    public void Module_is_the_weighted_sum()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var zs = Inputs.Randn([2, 5, 9, 9], salt: 8);
        var zt = Inputs.Randn([2, 5, 9, 9], salt: 9);
        var fs = Inputs.Randn([2, 3, 9, 9], salt: 10);
        var ft = Inputs.Randn([2, 7, 9, 9], salt: 11);
        using var module = gpukd.StructuredKDLoss();
        var expected = 10 * ReferenceSkd.PixelwiseLoss(zs, zt) + ReferenceSkd.PairwiseLoss(fs, ft);
        Tolerances.AssertClose(module.call(zs, zt, fs, ft), expected, Tolerances.Float64Parity, Label("StructuredKDLoss", "defaults"));
        using var full = gpukd.StructuredKDLoss(pixel_weight: 2, pair_weight: 0.5, pool: SkdPool.None, temperature: 3);
        expected = 2 * ReferenceSkd.PixelwiseLoss(zs, zt, 3) + 0.5 * ReferenceSkd.PairwiseLoss(fs, ft, pool: SkdPool.None);
        Tolerances.AssertClose(full.call(zs, zt, fs, ft), expected, Tolerances.Float64Parity, Label("StructuredKDLoss", "options"));
        Assert.That(() => gpukd.StructuredKDLoss(pixel_weight: -1), Throws.ArgumentException.With.Property("ParamName").EqualTo("pixel_weight"));
    }
}
