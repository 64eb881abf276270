using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>SP-specific behaviour beyond the generic <see cref="PairLossTests"/>: the multi-layer helper
/// with weights, the module, the zero-row rule, and the reference's own formula.</summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class SpLossTests(KdBackend backend) : BackendFixture(backend)
{
    [Test]
    public void Multi_layer_helper_is_the_weighted_sum()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = new[] { Inputs.Randn([4, 2, 2, 2]), Inputs.Randn([4, 6], salt: 1) };
        var t = new[] { Inputs.Randn([4, 3, 2, 2], salt: 2), Inputs.Randn([4, 5], salt: 3) };
        var weights = new[] { 3.0, 0.5 };
        var total = gpukd.functional.sp_loss(s, t, weights);
        var expected = 3.0 * ReferenceLosses.SpLoss(s[0], t[0]) + 0.5 * ReferenceLosses.SpLoss(s[1], t[1]);
        Tolerances.AssertClose(total, expected, Tolerances.Float64Parity, Label("sp_loss", "weighted pairs"));
        var unweighted = gpukd.functional.sp_loss(s, t);
        Tolerances.AssertClose(unweighted, ReferenceLosses.SpLoss(s[0], t[0]) + ReferenceLosses.SpLoss(s[1], t[1]),
                               Tolerances.Float64Parity, Label("sp_loss", "default weights"));
        GradCheck.Check(Label("sp_loss", "weighted pairs gradcheck"), xs => gpukd.functional.sp_loss([xs[0], xs[1]], t, weights), s[0], s[1]);
    }

    [Test]
    public void Multi_layer_helper_rejects_bad_lists()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = new[] { Inputs.Randn([4, 3]) };
        var t = new[] { Inputs.Randn([4, 5]) };
        Assert.That(() => gpukd.functional.sp_loss(s, [t[0], t[0]]), Throws.ArgumentException.With.Property("ParamName").EqualTo("teachers"));
        Assert.That(() => gpukd.functional.sp_loss(s, t, [1.0, 2.0]), Throws.ArgumentException.With.Property("ParamName").EqualTo("weights"));
        Assert.That(() => gpukd.functional.sp_loss(s, t, [double.NaN]), Throws.ArgumentException.With.Property("ParamName").EqualTo("weights"));
        Assert.That(() => gpukd.functional.sp_loss(Array.Empty<Tensor>(), Array.Empty<Tensor>()), Throws.ArgumentException.With.Property("ParamName").EqualTo("students"));
    }

    [Test]
    public void Module_equals_the_functional()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([5, 3]);
        var t = Inputs.Randn([5, 8], salt: 1);
        using var module = gpukd.SPLoss();
        Assert.That(Tolerances.Identical(module.call(s, t), gpukd.functional.sp_loss(s, t)), Label("SPLoss"));
    }

    [Test]
    public void Value_is_the_papers_formula_and_zero_for_identical_relations()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        // Teacher = 2 × student: identical normalised Grams, loss 0.
        var s = Inputs.Randn([6, 4]);
        Assert.That(gpukd.functional.sp_loss(s, 2 * s).item<double>(), Is.LessThan(1e-28), Label("sp_loss", "scaled copy"));
        // Hand-computed b = 2: rows (1,0), (0,1) → G_S = I; teacher rows (1,0), (1,0) → G_T = all 1/√2.
        var st = tensor(new double[] { 1, 0, 0, 1 }).reshape(2, 2);
        var tt = tensor(new double[] { 1, 0, 1, 0 }).reshape(2, 2);
        double h = 1 / Math.Sqrt(2), expected = (2 * (1 - h) * (1 - h) + 2 * h * h) / 4;
        Assert.That(gpukd.functional.sp_loss(st, tt).item<double>(), Is.EqualTo(expected).Within(1e-15), Label("sp_loss", "b=2 by hand"));
    }
}
