using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static GpuKd.Tests.ChannelLossHarness;

namespace GpuKd.Tests;

/// <summary>ICKD (torchdistill <c>ChSimLoss.batch_loss</c>): value and both gradients against the line-by-line
/// transcription in float64 (random and adversarial maps), float64 gradchecks, float32 against the float64 oracle,
/// reductions, validation and the module — on both backends (CPU fast path; the program on ILGPU's CPU accelerator).</summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class IckdLossTests(KdBackend backend) : BackendFixture(backend)
{
    static Tensor Ickd(Tensor[] x) => gpukd.functional.ickd_loss(x[0], x[1]);
    static Tensor Oracle(Tensor[] x) => ReferenceChannelLosses.IckdLoss(x[0], x[1]);

    /// <summary>(B, C, student H×W, teacher H×W): b = 1, 2, 3, odd and unequal map sizes, C = 1.</summary>
    (long B, long C, long Hs, long Ws, long Ht, long Wt)[] Shapes => IsIlgpu
        ? [(1, 3, 2, 2, 2, 2), (2, 4, 3, 3, 2, 5), (3, 1, 2, 3, 3, 1), (5, 3, 3, 1, 3, 3)]
        : [(1, 3, 2, 2, 2, 2), (2, 4, 3, 3, 2, 5), (3, 1, 2, 3, 3, 1), (5, 3, 3, 1, 3, 3), (2, 17, 5, 5, 3, 3), (4, 33, 7, 3, 4, 4), (17, 8, 4, 4, 4, 4)];

    Tensor[] Maps((long B, long C, long Hs, long Ws, long Ht, long Wt) s, ScalarType dtype = ScalarType.Float64, int salt = 0)
        => [Inputs.Randn([s.B, s.C, s.Hs, s.Ws], dtype, salt), Inputs.Randn([s.B, s.C, s.Ht, s.Wt], dtype, salt + 1)];

    [Test]
    public void Value_and_gradients_equal_the_published_code_on_random_maps()
    {
        using var _ = UseBackend();
        foreach (var s in Shapes)
            AssertMatches(Label("ickd_loss", s), Ickd, Oracle, Maps(s), Tolerances.Float64Parity);
    }

    [Test]
    public void Adversarial_maps_match_the_published_code()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var shape = IsIlgpu ? (3L, 4L, 3L, 3L, 2L, 3L) : (5L, 9L, 5L, 3L, 4L, 4L);
        var (s, t) = (Maps(shape)[0], Maps(shape)[1]);
        // Duplicate channels (equal Gram rows), a large common offset, student ≈ teacher (relations nearly equal),
        // a duplicated image, a huge and a tiny map (the range guard's power of two).
        var dupChannel = s.clone(); dupChannel.select(1, 1).copy_(dupChannel.select(1, 0));
        var dupImage = s.clone(); dupImage.select(0, 1).copy_(dupImage.select(0, 0));
        var nearT = Inputs.Perturbed(s);
        var cases = new (string Why, Tensor S, Tensor T)[]
        {
            ("duplicate channel", dupChannel, t),
            ("duplicate image", dupImage, t),
            ("offset 100", Inputs.Offset(s.shape), Inputs.Offset(t.shape, salt: 3)),
            ("student ≈ teacher", s, nearT),
            ("identical", s, s.clone()),
            ("huge student", s * 1e30, t),
            ("tiny teacher", s, t * 1e-30),
        };
        foreach (var (why, a, b) in cases)
            AssertMatches(Label("ickd_loss", why), Ickd, Oracle, [a, b], Tolerances.Float64Parity, floor: 1e-6);   // tiny teacher: Ĝ_T ≈ 0, the student's gradient is round-off
    }

    [Test]
    public void Zero_channels_and_zero_maps_follow_the_masked_oracle()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var shape = IsIlgpu ? (3L, 4L, 3L, 3L, 2L, 3L) : (5L, 9L, 5L, 3L, 4L, 4L);
        var m = Maps(shape);
        var zeroChannel = m[0].clone(); zeroChannel.select(1, 2).zero_();
        var zeroImage = m[1].clone(); zeroImage.select(0, 1).zero_();
        // Values: the published code's (a zero Gram row stays zero). Gradients: 0 through a degenerate row's
        // normalisation, where the published code's is ~1e12-scaled (the masked oracle).
        foreach (var (why, xs) in new[] { ("zero student channel", new[] { zeroChannel, m[1] }), ("zero teacher image", new[] { m[0], zeroImage }),
                                          ("all zero", new[] { zeros_like(m[0]), zeros_like(m[1]) }) })
            AssertMatches(Label("ickd_loss", why), Ickd, Oracle, xs, Tolerances.Float64Parity, floor: 1e-9,
                          gradientOracle: x => ReferenceChannelLosses.IckdLoss(x[0], x[1], maskDegenerate: true));
    }

    [Test]
    public void Gradcheck_float64_both_inputs()
    {
        using var _ = UseBackend();
        foreach (var s in IsIlgpu ? [(1L, 2L, 2L, 2L, 1L, 3L), (2L, 3L, 2L, 1L, 2L, 2L)] : Shapes.Take(5).ToArray())
            GradCheck.Check(Label("ickd_loss gradcheck", s), Ickd, Maps(s));
        GradCheck.Check(Label("ickd_loss gradcheck", "Sum"), x => gpukd.functional.ickd_loss(x[0], x[1], nn.Reduction.Sum), Maps((2, 3, 2, 2, 3, 1)));
    }

    [Test]
    public void Float32_is_within_the_bar_of_the_float64_oracle()
    {
        using var _ = UseBackend();
        var shapes = IsIlgpu ? [(3L, 5L, 4L, 4L, 3L, 3L)] : new[] { (4L, 16L, 8L, 8L, 6L, 6L), (17L, 33L, 5L, 3L, 4L, 4L) };
        foreach (var s in shapes)
        {
            AssertMatches(Label("ickd_loss float32", s), Ickd, Oracle, Maps(s, ScalarType.Float32), Tolerances.Float32Bar);
            var x = Maps(s, ScalarType.Float32);
            if (s.Item3 == s.Item5)
                AssertMatches(Label("ickd_loss float32 student ≈ teacher", s), Ickd, Oracle, [x[0], Inputs.Perturbed(x[0], 0.1)], Tolerances.Float32DifferenceBar);
        }
    }

    [Test]
    public void Sum_is_the_unnormalised_total_and_None_is_refused()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Maps((3, 4, 3, 2, 2, 2));
        var sum = gpukd.functional.ickd_loss(x[0], x[1], nn.Reduction.Sum);
        Tolerances.AssertClose(sum, ReferenceChannelLosses.IckdLoss(x[0], x[1], sum: true), Tolerances.Float64Parity, Label("ickd_loss Sum"));
        Tolerances.AssertClose(gpukd.functional.ickd_loss(x[0], x[1]) * (4.0 * 3 * 3), sum, 1e-14, Label("ickd_loss Mean = Sum / (C·B²)"));
        Assert.That(() => gpukd.functional.ickd_loss(x[0], x[1], nn.Reduction.None), OpRunner.ThrowsNaming("reduction"));
    }

    [Test]
    public void Unequal_channels_or_batches_name_the_teacher()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([2, 4, 3, 3]);
        Assert.That(() => gpukd.functional.ickd_loss(s, Inputs.Randn([2, 5, 3, 3])), OpRunner.ThrowsNaming("teacher_feat"));
        Assert.That(() => gpukd.functional.ickd_loss(s, Inputs.Randn([3, 4, 3, 3])), OpRunner.ThrowsNaming("teacher_feat"));
        Assert.That(() => gpukd.functional.ickd_loss(Inputs.Randn([2]), s), OpRunner.ThrowsNaming("student_feat"));
    }

    [Test]
    public void Module_equals_the_functional_and_keeps_its_reduction()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Maps((2, 3, 2, 2, 3, 3));
        using var mean = gpukd.ICKDLoss();
        using var sum = gpukd.ICKDLoss(nn.Reduction.Sum);
        Assert.That(mean.reduction, Is.EqualTo(nn.Reduction.Mean));
        Assert.That(Tolerances.Identical(mean.call(x[0], x[1]), gpukd.functional.ickd_loss(x[0], x[1])), Label("ICKDLoss Mean"));
        Assert.That(Tolerances.Identical(sum.call(x[0], x[1]), gpukd.functional.ickd_loss(x[0], x[1], nn.Reduction.Sum)), Label("ICKDLoss Sum"));
        Assert.That(() => gpukd.ICKDLoss(nn.Reduction.None), OpRunner.ThrowsNaming("reduction"));
    }
}
