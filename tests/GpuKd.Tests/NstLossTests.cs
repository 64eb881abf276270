using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static GpuKd.Tests.ChannelLossHarness;

namespace GpuKd.Tests;

/// <summary>NST (RepDistiller <c>NSTLoss</c>, full_loss = True): value and both gradients against the line-by-line
/// transcription in float64 (random and adversarial maps, Cs ≠ Ct, either side pooled, non-divisible sizes), float64
/// gradchecks, float32 against the float64 oracle, reductions, validation and the module — on both backends.</summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class NstLossTests(KdBackend backend) : BackendFixture(backend)
{
    static Tensor Nst(Tensor[] x) => gpukd.functional.nst_loss(x[0], x[1]);
    static Tensor Oracle(Tensor[] x) => ReferenceChannelLosses.NstLoss(x[0], x[1]);

    /// <summary>(B, Cs, Ct, student H×W, teacher H×W): b = 1, 2, 3; student pooled (7×7 → 3×3: not divisible), teacher
    /// pooled (5×5 → 2×2), equal non-square maps, C = 1.</summary>
    (long B, long Cs, long Ct, long Hs, long Ws, long Ht, long Wt)[] Shapes => IsIlgpu
        ? [(1, 2, 3, 2, 2, 2, 2), (2, 3, 2, 5, 5, 2, 2), (3, 1, 2, 3, 3, 5, 4), (2, 2, 2, 3, 1, 3, 1)]
        : [(1, 2, 3, 2, 2, 2, 2), (2, 3, 2, 5, 5, 2, 2), (3, 1, 2, 3, 3, 5, 4), (2, 2, 2, 3, 1, 3, 1), (3, 8, 5, 7, 7, 3, 3), (5, 16, 33, 4, 4, 6, 6), (17, 6, 6, 4, 3, 4, 3)];

    static Tensor[] Maps((long B, long Cs, long Ct, long Hs, long Ws, long Ht, long Wt) s, ScalarType dtype = ScalarType.Float64, int salt = 0)
        => [Inputs.Randn([s.B, s.Cs, s.Hs, s.Ws], dtype, salt), Inputs.Randn([s.B, s.Ct, s.Ht, s.Wt], dtype, salt + 1)];

    [Test]
    public void Value_and_gradients_equal_the_published_code_on_random_maps()
    {
        using var _ = UseBackend();
        foreach (var s in Shapes)
            AssertMatches(Label("nst_loss", s), Nst, Oracle, Maps(s), Tolerances.Float64Parity);
    }

    [Test]
    public void Adversarial_maps_match_the_published_code()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var shape = IsIlgpu ? (3L, 3L, 4L, 3L, 3L, 3L, 3L) : (5L, 9L, 6L, 5L, 5L, 5L, 5L);
        var m = Maps(shape);
        var (s, t) = (m[0], m[1]);
        var dupChannel = s.clone(); dupChannel.select(1, 1).copy_(dupChannel.select(1, 0));
        var zeroChannel = s.clone(); zeroChannel.select(1, 2).zero_();
        var zeroImage = t.clone(); zeroImage.select(0, 1).zero_();
        var same = Inputs.Randn([shape.Item1, shape.Item2, shape.Item4, shape.Item5], salt: 7);
        var cases = new (string Why, Tensor S, Tensor T)[]
        {
            ("duplicate channel", dupChannel, t),
            ("zero student channel", zeroChannel, t),
            ("zero teacher image", s, zeroImage),
            ("all zero", zeros_like(s), zeros_like(t)),
            ("offset 100", Inputs.Offset(s.shape), Inputs.Offset(t.shape, salt: 3)),
            ("student ≈ teacher", same, Inputs.Perturbed(same)),
            ("identical", same, same.clone()),
            ("huge student", s * 1e30, t),
            ("tiny teacher", s, t * 1e-30),
        };
        foreach (var (why, a, b) in cases)
            AssertMatches(Label("nst_loss", why), Nst, Oracle, [a, b], Tolerances.Float64Parity, floor: 1e-6,
                          // tiny teacher: its norms are at the clamp, which passes no gradient (GpuKd's rule; published: ȳ/eps)
                          gradientOracle: x => ReferenceChannelLosses.NstLoss(x[0], x[1], maskDegenerate: true));
    }

    /// <summary>The published value holds the teacher–teacher term, its gradient does not (<c>.detach()</c>): central
    /// differences see the term, so it is subtracted from the value (detached: no gradient of its own) — what remains
    /// is exactly what the returned gradients differentiate.</summary>
    [Test]
    public void Gradcheck_float64_both_inputs()
    {
        using var _ = UseBackend();
        static Tensor Checked(Tensor[] x, bool sum = false)
            => gpukd.functional.nst_loss(x[0], x[1], sum ? nn.Reduction.Sum : nn.Reduction.Mean) - ReferenceChannelLosses.NstTeacherTerm(x[0], x[1], sum).detach();
        foreach (var s in IsIlgpu ? [(1L, 2L, 1L, 2L, 2L, 2L, 2L), (2L, 2L, 3L, 3L, 3L, 2L, 2L)] : Shapes.Take(5).ToArray())
            GradCheck.Check(Label("nst_loss gradcheck", s), x => Checked(x), Maps(s));
        GradCheck.Check(Label("nst_loss gradcheck", "Sum"), x => Checked(x, sum: true), Maps((2, 2, 3, 2, 2, 3, 3)));
    }

    [Test]
    public void Float32_is_within_the_bar_of_the_float64_oracle()
    {
        using var _ = UseBackend();
        var shapes = IsIlgpu ? [(3L, 5L, 4L, 4L, 4L, 3L, 3L)] : new[] { (4L, 16L, 24L, 8L, 8L, 6L, 6L), (17L, 33L, 8L, 5L, 5L, 4L, 4L) };
        foreach (var s in shapes)
            AssertMatches(Label("nst_loss float32", s), Nst, Oracle, Maps(s, ScalarType.Float32), Tolerances.Float32Bar);
    }

    /// <summary>Student ≈ teacher (10 % and 1 % off): the three terms nearly cancel, in the published float32 code as
    /// here. GpuKd's float32 value and gradient are held to the bar or to twice the published float32 code's own error
    /// against the float64 oracle, whichever is larger.</summary>
    [Test]
    public void Float32_near_the_teacher_is_no_worse_than_the_published_float32_code()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Inputs.Randn(IsIlgpu ? [3, 5, 4, 4] : [8, 32, 8, 8], ScalarType.Float32);
        foreach (var rel in new[] { 0.1, 0.01 })
        {
            var t = Inputs.Perturbed(x, rel);
            var (v, g) = Run(Nst, x, t);
            var (v32, g32) = Run(Oracle, x, t);
            var (v64, g64) = Run(Oracle, Inputs.Exact64(x), Inputs.Exact64(t));
            foreach (var (what, got, pub, want) in new[] { ("value", v, v32, v64), ("student gradient", g[0], g32[0], g64[0]), ("teacher gradient", g[1], g32[1], g64[1]) })
            {
                double err = Tolerances.RelErr(got, want), published = Tolerances.RelErr(pub, want);
                Assert.That(err, Is.LessThanOrEqualTo(Math.Max(Tolerances.Float32Bar, 2 * published)),
                            Label("nst_loss float32", $"{rel:P0} off, {what}: GpuKd {err:E2}, published float32 {published:E2}"));
            }
        }
    }

    [Test]
    public void Sum_replaces_each_mean_and_None_is_refused()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Maps((3, 4, 2, 3, 3, 2, 2));
        Tolerances.AssertClose(gpukd.functional.nst_loss(x[0], x[1], nn.Reduction.Sum), ReferenceChannelLosses.NstLoss(x[0], x[1], sum: true),
                               Tolerances.Float64Parity, Label("nst_loss Sum"));
        Assert.That(() => gpukd.functional.nst_loss(x[0], x[1], nn.Reduction.None), OpRunner.ThrowsNaming("reduction"));
    }

    [Test]
    public void Bad_shapes_are_named()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([2, 4, 3, 3]);
        Assert.That(() => gpukd.functional.nst_loss(s, Inputs.Randn([2, 5, 3, 4])), OpRunner.ThrowsNaming("teacher_feat"));
        Assert.That(() => gpukd.functional.nst_loss(s, Inputs.Randn([3, 4, 3, 3])), OpRunner.ThrowsNaming("teacher_feat"));
        Assert.That(() => gpukd.functional.nst_loss(Inputs.Randn([2, 4, 9]), s), OpRunner.ThrowsNaming("student_feat"));
        Assert.That(() => gpukd.functional.nst_loss(s, Inputs.Randn([2, 4, 9])), OpRunner.ThrowsNaming("teacher_feat"));
    }

    [Test]
    public void Module_equals_the_functional_and_keeps_its_reduction()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Maps((2, 3, 2, 2, 2, 3, 3));
        using var mean = gpukd.NSTLoss();
        using var sum = gpukd.NSTLoss(nn.Reduction.Sum);
        Assert.That(mean.reduction, Is.EqualTo(nn.Reduction.Mean));
        Assert.That(Tolerances.Identical(mean.call(x[0], x[1]), gpukd.functional.nst_loss(x[0], x[1])), Label("NSTLoss Mean"));
        Assert.That(Tolerances.Identical(sum.call(x[0], x[1]), gpukd.functional.nst_loss(x[0], x[1], nn.Reduction.Sum)), Label("NSTLoss Sum"));
        Assert.That(() => gpukd.NSTLoss(nn.Reduction.None), OpRunner.ThrowsNaming("reduction"));
    }
}
