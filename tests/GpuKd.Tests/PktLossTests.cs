using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static GpuKd.Tests.ChannelLossHarness;

namespace GpuKd.Tests;

/// <summary>PKT (RepDistiller <c>PKT.cosine_similarity_loss</c>): value and both gradients against the line-by-line
/// transcription in float64 (random and adversarial rows, Ds ≠ Dt, b = 1, 2, 3, …), float64 gradchecks, float32 against
/// the float64 oracle, eps, reductions, the NaN departure, validation and the module — on both backends.</summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class PktLossTests(KdBackend backend) : BackendFixture(backend)
{
    static Tensor Pkt(Tensor[] x) => gpukd.functional.pkt_loss(x[0], x[1]);
    static Tensor Oracle(Tensor[] x) => ReferenceChannelLosses.PktLoss(x[0], x[1]);

    static Tensor[] Rows(int b, int d, ScalarType dtype = ScalarType.Float64, int salt = 0)
        => [Inputs.Randn([b, d], dtype, salt), Inputs.Randn([b, d + 2], dtype, salt + 1)];

    [Test]
    public void Value_and_gradients_equal_the_published_code_on_random_rows()
    {
        using var _ = UseBackend();
        foreach (var (b, d) in ParitySizes)
            AssertMatches(Label("pkt_loss", b, d), Pkt, Oracle, Rows(b, d), Tolerances.Float64Parity, floor: 1e-9);
        AssertMatches(Label("pkt_loss", "maps [3, 2, 3, 3]"), Pkt, Oracle, [Inputs.Randn([3, 2, 3, 3]), Inputs.Randn([3, 4, 2, 2], salt: 5)], Tolerances.Float64Parity);
    }

    [Test]
    public void Adversarial_rows_match_the_published_code()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        foreach (var (b, d) in DegenerateRowSizes)
        {
            var (s, t) = (Rows(b, d)[0], Rows(b, d)[1]);
            var cases = new (string Why, Tensor S, Tensor T)[]
            {
                ("duplicate student row", Inputs.WithDuplicateRow(s, 1, 0), t),
                ("duplicate teacher row", s, Inputs.WithDuplicateRow(t, 0, 1)),
                ("zero student row", Inputs.WithZeroRow(s, 1), t),
                ("zero teacher row", s, Inputs.WithZeroRow(t, 0)),
                ("all zero", zeros_like(s), zeros_like(t)),
                ("offset 100", Inputs.Offset(s.shape), Inputs.Offset(t.shape, salt: 3)),
                ("student ≈ teacher", s, Inputs.Perturbed(s)),
                ("identical", s, s.clone()),
                ("huge student", s * 1e30, t),
                ("tiny teacher", s, t * 1e-30),
            };
            foreach (var (why, a, c) in cases)
                AssertMatches(Label("pkt_loss", why, b, d), Pkt, Oracle, [a, c], Tolerances.Float64Parity, floor: 1e-6,
                              // zero rows: the published sqrt(Σx²) backward is NaN there; the oracle with x.norm()'s subgradient
                              gradientOracle: x => ReferenceChannelLosses.PktLoss(x[0], x[1], subgradientNorm: true));
        }
    }

    /// <summary>D ≥ 3: at D = 1, u = x/(|x| + 1e-7) is a smoothed sign whose slope 1e-7/x² varies too fast for
    /// central differences at h = 1e-6 (D = 1 is covered by the parity test against autograd of the transcription).</summary>
    [Test]
    public void Gradcheck_float64_both_inputs()
    {
        using var _ = UseBackend();
        foreach (var (b, d) in GradCheckSizes.Where(s => s.D >= 3))
            GradCheck.Check(Label("pkt_loss gradcheck", b, d), Pkt, Rows(b, d));
        GradCheck.Check(Label("pkt_loss gradcheck", "Sum, eps 1e-3"), x => gpukd.functional.pkt_loss(x[0], x[1], 1e-3, nn.Reduction.Sum), Rows(5, 3));
    }

    [Test]
    public void Float32_is_within_the_bar_of_the_float64_oracle()
    {
        using var _ = UseBackend();
        foreach (var (b, d) in Float32Sizes)
        {
            AssertMatches(Label("pkt_loss float32", b, d), Pkt, Oracle, Rows(b, d, ScalarType.Float32), Tolerances.Float32Bar);
            var x = Inputs.Randn([b, d], ScalarType.Float32);
            // q ≈ p: the KL's terms cancel (Σ_j (q − p) = 0 per row), in the published float32 code as here.
            AssertNoWorseThanPublishedFloat32(Label("pkt_loss float32 student ≈ teacher", b, d), Pkt, Oracle, [x, Inputs.Perturbed(x)]);
        }
    }

    [Test]
    public void Eps_and_Sum_follow_the_published_code_and_None_is_refused()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Rows(6, 4);
        AssertMatches(Label("pkt_loss eps 0.1 Sum"), y => gpukd.functional.pkt_loss(y[0], y[1], 0.1, nn.Reduction.Sum),
                      y => ReferenceChannelLosses.PktLoss(y[0], y[1], 0.1, sum: true), x, Tolerances.Float64Parity);
        Assert.That(() => gpukd.functional.pkt_loss(x[0], x[1], reduction: nn.Reduction.None), OpRunner.ThrowsNaming("reduction"));
        Assert.That(() => gpukd.functional.pkt_loss(x[0], x[1], eps: 0), OpRunner.ThrowsNaming("eps"));
        Assert.That(() => gpukd.functional.pkt_loss(x[0], Inputs.Randn([5, 4])), OpRunner.ThrowsNaming("teacher"));
    }

    /// <summary>The published code sets NaN entries of the unit rows to 0, so a NaN sample gives it a finite loss; GpuKd
    /// propagates it (the project's rule: never a finite answer from a non-finite input).</summary>
    [Test]
    public void NaN_input_gives_NaN_where_the_published_code_gives_a_finite_loss()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Rows(4, 3);
        var bad = Inputs.WithValueAt(x[0], double.NaN, 2, 1);
        Assert.That(double.IsFinite(Oracle([bad, x[1]]).item<double>()), "the published composition masks the NaN");
        Assert.That(double.IsNaN(gpukd.functional.pkt_loss(bad, x[1]).item<double>()), Label("pkt_loss NaN"));
    }

    [Test]
    public void Module_equals_the_functional_and_keeps_its_options()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Rows(5, 3);
        using var mean = gpukd.PKTLoss();
        using var sum = gpukd.PKTLoss(1e-3, nn.Reduction.Sum);
        Assert.That(mean.reduction, Is.EqualTo(nn.Reduction.Mean));
        Assert.That(sum.eps, Is.EqualTo(1e-3));
        Assert.That(Tolerances.Identical(mean.call(x[0], x[1]), gpukd.functional.pkt_loss(x[0], x[1])), Label("PKTLoss Mean"));
        Assert.That(Tolerances.Identical(sum.call(x[0], x[1]), gpukd.functional.pkt_loss(x[0], x[1], 1e-3, nn.Reduction.Sum)), Label("PKTLoss Sum"));
        Assert.That(() => gpukd.PKTLoss(reduction: nn.Reduction.None), OpRunner.ThrowsNaming("reduction"));
    }
}
