using GpuKd.Kernels.Cpu;
using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static GpuKd.Tests.ChannelLossHarness;

namespace GpuKd.Tests;

/// <summary>DIST (torchdistill <c>DISTLoss</c>): value and both gradients against the line-by-line transcription in float64
/// (random and adversarial logits, b = 1, 2, 3, …, K = 1, temperatures and weights), float64 gradchecks, float32 against the
/// float64 oracle (and near the teacher no worse than the published float32 code), Sum, NaN/Inf, determinism, validation
/// and the module — on both backends.</summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class DistLossTests(KdBackend backend) : BackendFixture(backend)
{
    static Tensor Dist(Tensor[] x) => gpukd.functional.dist_loss(x[0], x[1]);
    static Tensor Oracle(Tensor[] x) => ReferenceChannelLosses.DistLoss(x[0], x[1]);
    /// <summary>The gradient oracle: a correlation with a zero-variance side (norm ≤ eps) or of ≤ 2 entries passes no gradient.</summary>
    static Tensor MaskedOracle(Tensor[] x) => ReferenceChannelLosses.DistLoss(x[0], x[1], detachDegenerate: true);

    /// <summary>Logits of spread ~3 (softmaxes far from uniform and from one-hot).</summary>
    static Tensor[] Logits(int b, int k, ScalarType dtype = ScalarType.Float64, int salt = 0)
        => [(Inputs.Randn([b, k], ScalarType.Float64, salt) * 3).to(dtype), (Inputs.Randn([b, k], ScalarType.Float64, salt + 1) * 3).to(dtype)];

    [Test]
    public void Libtorch_cosine_similarity_clamps_each_norm()
    {
        // The eps rule the oracle inherits: torch 2.x divides by max(‖a‖, eps)·max(‖b‖, eps), not max(‖a‖·‖b‖, eps) (1.x).
        using var scope = NewDisposeScope();
        var a = tensor(new[] { 1e-5, 0 }).unsqueeze(0);
        Assert.That(nn.functional.cosine_similarity(a, a, 1, 1e-8).item<double>(), Is.EqualTo(1.0).Within(1e-12));
        var tiny = tensor(new[] { 1e-9, 0 }).unsqueeze(0);
        Assert.That(nn.functional.cosine_similarity(tiny, a, 1, 1e-8).item<double>(), Is.EqualTo(0.1).Within(1e-12));
    }

    [Test]
    public void Value_and_gradients_equal_the_published_code_on_random_logits()
    {
        using var _ = UseBackend();
        foreach (var (b, k) in ParitySizes)
            AssertMatches(Label("dist_loss", b, k), Dist, Oracle, Logits(b, k), Tolerances.Float64Parity, floor: 1e-9, gradientOracle: MaskedOracle);
        foreach (var (beta, gamma, tau) in new[] { (2.0, 0.5, 4.0), (1.0, 2.0, 0.5), (0.0, 1.0, 1.0), (1.0, 0.0, 1.0) })
            AssertMatches(Label("dist_loss", $"beta {beta} gamma {gamma} tau {tau}"), x => gpukd.functional.dist_loss(x[0], x[1], beta, gamma, tau),
                          x => ReferenceChannelLosses.DistLoss(x[0], x[1], beta, gamma, tau), Logits(5, 7, salt: 3), Tolerances.Float64Parity, floor: 1e-9,
                          gradientOracle: x => ReferenceChannelLosses.DistLoss(x[0], x[1], beta, gamma, tau, detachDegenerate: true));
        // Many column blocks and a ragged last block (CPU blocks of 64 columns).
        AssertMatches(Label("dist_loss", 9, 131), Dist, Oracle, Logits(9, 131, salt: 5), Tolerances.Float64Parity, floor: 1e-9, gradientOracle: MaskedOracle);
    }

    [Test]
    public void Adversarial_logits_match_the_published_code()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        foreach (var (b, k) in DegenerateRowSizes.Append((1, 5)).Append((3, 1)))
        {
            var (s, t) = (Logits(b, k)[0], Logits(b, k)[1]);
            var cases = new (string Why, Tensor S, Tensor T)[]
            {
                ("duplicate student row", b > 1 ? Inputs.WithDuplicateRow(s, 1, 0) : s, t),
                ("duplicate teacher row", s, b > 1 ? Inputs.WithDuplicateRow(t, 0, b - 1) : t),
                ("constant student row", Inputs.WithZeroRow(s, 0), t),
                ("constant teacher row", s, Inputs.WithZeroRow(t, b - 1) + 5),
                ("all rows equal (every column constant)", s[0].expand(b, k).clone(), t),
                ("all zero", zeros_like(s), zeros_like(t)),
                ("offset 100 (softmax shift)", s + 100, t - 100),
                ("student ≈ teacher", s, Inputs.Perturbed(s)),
                ("identical", s, s.clone()),
                ("huge student logits (one-hot rows)", s * 1e30, t),
                ("large logits ×30", s * 30, t * 30),
                ("tiny teacher logits (uniform rows)", s, t * 1e-30),
            };
            foreach (var (why, a, c) in cases)
                                // floor 1e-5: values and gradients below it compared absolutely (1e-15): the published 1 − mean ρ near the
                // teacher, and gradients that are exactly 0 (identical inputs), carry ~1e-16 of rounding.
                AssertMatches(Label("dist_loss", why, b, k), Dist, Oracle, [a, c], Tolerances.Float64Parity, floor: 1e-5, gradientOracle: MaskedOracle);
        }
    }

    /// <summary>Zero-variance rows and columns: correlation 0 (the published value to ~1e-9: its centred residue / eps) and
    /// no gradient through them; b = 1: every column is constant, so intra = 1 exactly and only the rows carry gradient.</summary>
    [Test]
    public void Zero_variance_rows_and_columns_have_correlation_0_and_no_gradient()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var one = Logits(1, 6);
        // b = 1, gamma only: every column has one sample, so σ = 0, intra = 1, loss = γτ² and no gradient at all.
        var (v, g) = Run(x => gpukd.functional.dist_loss(x[0], x[1], 0, 3, 2), one);
        Assert.That(v.item<double>(), Is.EqualTo(12.0).Within(1e-15), Label("b = 1 intra"));
        Assert.That(g[0].abs().max().item<double>(), Is.Zero, Label("b = 1 intra: no gradient"));
        // Constant student logits everywhere: every row and column of y_s is constant; the loss is βτ² + γτ² and no gradient.
        var x2 = Logits(4, 5);
        var (v2, g2) = Run(x => gpukd.functional.dist_loss(x[0], x[1]), [zeros_like(x2[0]), x2[1]]);
        Assert.That(v2.item<double>(), Is.EqualTo(2.0).Within(1e-7), Label("constant student"));
        Assert.That(g2[0].abs().max().item<double>(), Is.Zero, Label("constant student: no gradient"));
        Assert.That(g2[1].abs().max().item<double>(), Is.Zero, Label("constant student: no teacher gradient"));
    }

    [Test]
    public void Gradcheck_float64_both_inputs()
    {
        using var _ = UseBackend();
        foreach (var (b, k) in GradCheckSizes)
            GradCheck.Check(Label("dist_loss gradcheck", b, k), Dist, Logits(b, k));
        GradCheck.Check(Label("dist_loss gradcheck", "Sum, beta 2, gamma 0.5, tau 3"),
                        x => gpukd.functional.dist_loss(x[0], x[1], 2, 0.5, 3, nn.Reduction.Sum), Logits(5, 4, salt: 7));
        GradCheck.Check(Label("dist_loss gradcheck", "duplicate rows, tau 0.5"),
                        x => gpukd.functional.dist_loss(x[0], x[1], temperature: 0.5), [Inputs.WithDuplicateRow(Logits(4, 5)[0], 1, 0), Logits(4, 5)[1]]);
    }

    [Test]
    public void Float32_is_within_the_bar_of_the_float64_oracle()
    {
        using var _ = UseBackend();
        foreach (var (b, k) in Float32Sizes)
        {
            AssertMatches(Label("dist_loss float32", b, k), Dist, Oracle, Logits(b, k, ScalarType.Float32), Tolerances.Float32Bar, gradientOracle: MaskedOracle);
            var x = Logits(b, k, ScalarType.Float32)[0];
            // ρ, σ → 1: the published 1 − mean ρ cancels (here 1 − ρ = ½‖ĉ_s − ĉ_t‖² does not). The masked oracle: the
            // published code with its degenerate correlations' gradients removed (a float32 softmax of K = 1000 logits has
            // columns of near-zero entries).
            AssertNoWorseThanPublishedFloat32(Label("dist_loss float32 student ≈ teacher", b, k), Dist, MaskedOracle, [x, Inputs.Perturbed(x)]);
        }
    }

    [Test]
    public void Sum_follows_the_published_sums_and_bad_arguments_are_refused()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Logits(6, 4);
        AssertMatches(Label("dist_loss Sum"), y => gpukd.functional.dist_loss(y[0], y[1], 2, 3, 1.5, nn.Reduction.Sum),
                      y => ReferenceChannelLosses.DistLoss(y[0], y[1], 2, 3, 1.5, sum: true), x, Tolerances.Float64Parity);
        Assert.That(() => gpukd.functional.dist_loss(x[0], x[1], reduction: nn.Reduction.None), OpRunner.ThrowsNaming("reduction"));
        Assert.That(() => gpukd.functional.dist_loss(x[0], x[1], temperature: 0), OpRunner.ThrowsNaming("temperature"));
        Assert.That(() => gpukd.functional.dist_loss(x[0], x[1], beta: double.NaN), OpRunner.ThrowsNaming("beta"));
        Assert.That(() => gpukd.functional.dist_loss(x[0], x[1], gamma: double.PositiveInfinity), OpRunner.ThrowsNaming("gamma"));
        Assert.That(() => gpukd.functional.dist_loss(x[0], Inputs.Randn([6, 5])), OpRunner.ThrowsNaming("teacher_logits"));
        Assert.That(() => gpukd.functional.dist_loss(x[0], Inputs.Randn([5, 4])), OpRunner.ThrowsNaming("teacher_logits"));
        Assert.That(() => gpukd.functional.dist_loss(Inputs.Randn([6, 2, 2]), Inputs.Randn([6, 2, 2])), OpRunner.ThrowsNaming("student_logits"));
    }

    [Test]
    public void NaN_and_Inf_logits_give_a_non_finite_loss()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Logits(4, 3);
        foreach (var bad in new[] { double.NaN, double.PositiveInfinity })
        foreach (var side in new[] { 0, 1 })
        {
            var xs = x.Select(t => t.clone()).ToArray();
            xs[side] = Inputs.WithValueAt(xs[side], bad, 2, 1);
            Assert.That(double.IsFinite(Dist(xs).item<double>()), Is.False, Label("dist_loss", bad, $"side {side}"));
        }
    }

    [Test]
    public void Deterministic_across_calls_and_thread_counts()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = IsIlgpu ? Logits(6, 70, ScalarType.Float32) : Logits(96, 200, ScalarType.Float32);
        var (v1, g1) = Run(Dist, x);
        var (v2, g2) = Run(Dist, x);
        Assert.That(Tolerances.Identical(v1, v2) && Tolerances.Identical(g1[0], g2[0]) && Tolerances.Identical(g1[1], g2[1]), Label("dist_loss repeat"));
        if (IsIlgpu) return;
        (Tensor, Tensor[]) At(int degree) { using (CpuParallel.Force(degree)) return Run(Dist, x); }
        var (v3, g3) = At(1);
        var (v4, g4) = At(2);
        Assert.That(Tolerances.Identical(v3, v4) && Tolerances.Identical(g3[0], g4[0]) && Tolerances.Identical(g3[1], g4[1]), Label("dist_loss 1 vs 2 threads"));
        Assert.That(Tolerances.Identical(v1, v3), Label("dist_loss default vs 1 thread"));
    }

    [Test]
    public void Module_equals_the_functional_and_keeps_its_options()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Logits(5, 3);
        using var mean = gpukd.DISTLoss();
        using var sum = gpukd.DISTLoss(2, 0.5, 4, nn.Reduction.Sum);
        Assert.That(mean.reduction, Is.EqualTo(nn.Reduction.Mean));
        Assert.That((sum.beta, sum.gamma, sum.temperature), Is.EqualTo((2.0, 0.5, 4.0)));
        Assert.That(Tolerances.Identical(mean.call(x[0], x[1]), gpukd.functional.dist_loss(x[0], x[1])), Label("DISTLoss Mean"));
        Assert.That(Tolerances.Identical(sum.call(x[0], x[1]), gpukd.functional.dist_loss(x[0], x[1], 2, 0.5, 4, nn.Reduction.Sum)), Label("DISTLoss Sum"));
        Assert.That(() => gpukd.DISTLoss(reduction: nn.Reduction.None), OpRunner.ThrowsNaming("reduction"));
        Assert.That(() => gpukd.DISTLoss(temperature: -1), OpRunner.ThrowsNaming("temperature"));
    }
}
