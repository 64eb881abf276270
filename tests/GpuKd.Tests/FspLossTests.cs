using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static GpuKd.Tests.ChannelLossHarness;

namespace GpuKd.Tests;

/// <summary>FSP (RepDistiller <c>FSP</c>): value and every layer's gradient against the line-by-line transcription in
/// float64 (random and adversarial maps, bot or top pooled, non-divisible sizes, 2–4 layers, weights), float64 gradchecks
/// of the student's and the teacher's layers, float32 against the float64 oracle (and near the teacher no worse than the
/// published float32 code), reductions, validation and the module — on both backends.</summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class FspLossTests(KdBackend backend) : BackendFixture(backend)
{
    /// <summary>A case: batch, channels per layer, student and teacher (H, W) per layer. Wherever a pair is pooled the
    /// smaller map is square (the published code pools to (H, H)).</summary>
    public sealed record Shape(long B, long[] C, (long H, long W)[] S, (long H, long W)[] T)
    {
        public int Layers => C.Length;
        public override string ToString() => $"B={B} C=[{string.Join(",", C)}] S=[{string.Join(",", S.Select(s => $"{s.H}x{s.W}"))}] T=[{string.Join(",", T.Select(s => $"{s.H}x{s.W}"))}]";
    }

    static Func<Tensor[], Tensor> Fsp(int layers, IReadOnlyList<double>? w = null, nn.Reduction r = nn.Reduction.Mean)
        => x => gpukd.functional.fsp_loss(x[..layers], x[layers..], w, r);

    static Func<Tensor[], Tensor> Oracle(int layers, IReadOnlyList<double>? w = null, bool sum = false)
        => x => ReferenceChannelLosses.FspLoss(x[..layers], x[layers..], w, sum);

    static Tensor[] Maps(Shape s, ScalarType dtype = ScalarType.Float64, int salt = 0)
        => [.. s.S.Select((hw, i) => Inputs.Randn([s.B, s.C[i], hw.H, hw.W], dtype, salt + i)),
            .. s.T.Select((hw, i) => Inputs.Randn([s.B, s.C[i], hw.H, hw.W], dtype, salt + 50 + i))];

    static readonly Shape B1 = new(1, [2, 3], [(2, 2), (2, 2)], [(2, 2), (2, 2)]);
    static readonly Shape BotPooled = new(2, [3, 2], [(5, 5), (2, 2)], [(4, 4), (2, 2)]);
    static readonly Shape TopPooled = new(3, [2, 3, 2], [(3, 3), (5, 5), (5, 5)], [(2, 2), (4, 4), (2, 2)]);
    static readonly Shape SevenToThree = new(3, [4, 5], [(7, 7), (3, 3)], [(7, 7), (3, 3)]);
    static readonly Shape NonSquare = new(2, [2, 3], [(3, 4), (3, 4)], [(2, 5), (2, 5)]);
    static readonly Shape FourLayers = new(2, [3, 4, 2, 5], [(6, 6), (3, 3), (3, 3), (2, 2)], [(5, 5), (5, 5), (2, 2), (3, 3)]);
    static readonly Shape Larger = new(5, [16, 33, 8], [(8, 8), (4, 4), (4, 4)], [(8, 8), (8, 8), (3, 3)]);

    Shape[] Shapes => IsIlgpu ? [B1, BotPooled, TopPooled, NonSquare, FourLayers] : [B1, BotPooled, TopPooled, SevenToThree, NonSquare, FourLayers, Larger];

    [Test]
    public void Value_and_gradients_equal_the_published_code_on_random_maps()
    {
        using var _ = UseBackend();
        foreach (var s in Shapes)
            AssertMatches(Label("fsp_loss", s), Fsp(s.Layers), Oracle(s.Layers), Maps(s), Tolerances.Float64Parity);
    }

    [Test]
    public void Weights_scale_each_pair()
    {
        using var _ = UseBackend();
        foreach (var (s, w) in new (Shape, double[])[] { (TopPooled, [0.5, -2]), (FourLayers, [1, 0, 3.25]) })
        {
            AssertMatches(Label("fsp_loss weights", s), Fsp(s.Layers, w), Oracle(s.Layers, w), Maps(s, salt: 3), Tolerances.Float64Parity);
            // A weight that is not 1 must change the value (the test can fail if weights are ignored).
            using var scope = NewDisposeScope();
            var x = Maps(s, salt: 3);
            Assert.That(Fsp(s.Layers, w)(x).item<double>(), Is.Not.EqualTo(Fsp(s.Layers)(x).item<double>()).Within(1e-9), Label("fsp_loss weights", "matter"));
        }
    }

    [Test]
    public void Adversarial_maps_match_the_published_code()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var shape = IsIlgpu ? new Shape(3, [3, 4], [(4, 4), (2, 2)], [(3, 3), (3, 3)]) : new Shape(5, [6, 9, 4], [(6, 6), (3, 3), (3, 3)], [(5, 5), (5, 5), (2, 2)]);
        int L = shape.Layers;
        var m = Maps(shape);
        Tensor[] With(int k, Tensor x) { var c = m.ToArray(); c[k] = x; return c; }
        var dupChannel = m[0].clone(); dupChannel.select(1, 1).copy_(dupChannel.select(1, 0));
        var zeroChannel = m[1].clone(); zeroChannel.select(1, 2).zero_();
        var zeroImage = m[L].clone(); zeroImage.select(0, 1).zero_();
        var same = Maps(shape, salt: 7)[..L];
        var cases = new (string Why, Tensor[] X)[]
        {
            ("duplicate channel", With(0, dupChannel)),
            ("zero student channel", With(1, zeroChannel)),
            ("zero teacher image", With(L, zeroImage)),
            ("zero student map", With(1, zeros_like(m[1]))),
            ("all zero", [.. m.Select(x => zeros_like(x))]),
            ("offset 100", [.. m.Select((x, k) => Inputs.Offset(x.shape, salt: k))]),
            ("student ≈ teacher", [.. same, .. same.Select(x => Inputs.Perturbed(x))]),
            ("identical", [.. same, .. same.Select(x => x.clone())]),
            ("huge student", [.. m[..L].Select(x => x * 1e30), .. m[L..]]),
            ("tiny teacher", [.. m[..L], .. m[L..].Select(x => x * 1e-30)]),
        };
        foreach (var (why, x) in cases)
            AssertMatches(Label("fsp_loss", why), Fsp(L), Oracle(L), x, Tolerances.Float64Parity, floor: 1e-12);
    }

    [Test]
    public void Identical_sides_give_exactly_zero()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Maps(TopPooled)[..3];
        var (v, g) = Run(Fsp(3), [.. s, .. s.Select(x => x.clone())]);
        Assert.That(v.item<double>(), Is.EqualTo(0.0), Label("fsp_loss identical"));
        Assert.That(g.All(x => x.abs().max().item<double>() == 0), Label("fsp_loss identical: zero gradients"));
    }

    [Test]
    public void Gradcheck_float64_student_and_teacher_layers()
    {
        using var _ = UseBackend();
        var shapes = IsIlgpu ? [B1, BotPooled, TopPooled] : new[] { B1, BotPooled, TopPooled, SevenToThree, NonSquare, FourLayers };
        foreach (var s in shapes)
            GradCheck.Check(Label("fsp_loss gradcheck", s), Fsp(s.Layers), Maps(s));
        GradCheck.Check(Label("fsp_loss gradcheck", "weights, Sum"), Fsp(3, [0.5, -2], nn.Reduction.Sum), Maps(TopPooled, salt: 5));
    }

    [Test]
    public void Float32_is_within_the_bar_of_the_float64_oracle()
    {
        using var _ = UseBackend();
        var shapes = IsIlgpu ? [FourLayers] : new[] { Larger, new Shape(4, [16, 24], [(8, 8), (4, 4)], [(8, 8), (4, 4)]) };
        foreach (var s in shapes)
            AssertMatches(Label("fsp_loss float32", s), Fsp(s.Layers), Oracle(s.Layers), Maps(s, ScalarType.Float32), Tolerances.Float32Bar);
    }

    /// <summary>Student ≈ teacher (10 % and 1 % off): F_s − F_t cancels, in the published float32 code as here.</summary>
    [Test]
    public void Float32_near_the_teacher_is_no_worse_than_the_published_float32_code()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var shape = IsIlgpu ? new Shape(3, [8, 16], [(8, 8), (4, 4)], [(8, 8), (4, 4)]) : new Shape(8, [32, 64], [(16, 16), (8, 8)], [(16, 16), (8, 8)]);
        var s = Maps(shape, ScalarType.Float32)[..2];
        foreach (var rel in new[] { 0.1, 0.01 })
            AssertNoWorseThanPublishedFloat32(Label("fsp_loss float32", $"{rel:P0} off"), Fsp(2), Oracle(2), [.. s, .. s.Select(x => Inputs.Perturbed(x, rel))]);
        // ReLU-like maps (non-negative, a shared offset): the FSP entries are large next to their differences.
        var r = s.Select(x => x.relu() + 1).ToArray();
        AssertNoWorseThanPublishedFloat32(Label("fsp_loss float32", "ReLU + 1, 1 % off"), Fsp(2), Oracle(2), [.. r, .. r.Select(x => Inputs.Perturbed(x, 0.01))]);
    }

    /// <summary>The CPU path widens float32 maps to double a few images at a time: one image per chunk gives the same
    /// bits as the whole batch at once.</summary>
    [Test]
    public void Float32_chunked_widening_gives_the_same_bits()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Maps(FourLayers, ScalarType.Float32, salt: 11);
        var (v, g) = Run(Fsp(4), x);
        long saved = Ops.FspLoss.WideChunkBytes;
        Ops.FspLoss.WideChunkBytes = 1;
        try
        {
            var (v1, g1) = Run(Fsp(4), x);
            Assert.That(Tolerances.Identical(v, v1) && g.Zip(g1).All(p => Tolerances.Identical(p.First, p.Second)), Label("fsp_loss chunked widening"));
        }
        finally { Ops.FspLoss.WideChunkBytes = saved; }
    }

    [Test]
    public void Sum_drops_each_mean_and_None_is_refused()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Maps(TopPooled);
        double[] w = [0.5, 3];
        Tolerances.AssertClose(Fsp(3, w, nn.Reduction.Sum)(x), ReferenceChannelLosses.FspLoss(x[..3], x[3..], w, sum: true), Tolerances.Float64Parity, Label("fsp_loss Sum"));
        Assert.That(() => gpukd.functional.fsp_loss(x[..3], x[3..], reduction: nn.Reduction.None), OpRunner.ThrowsNaming("reduction"));
    }

    static NUnit.Framework.Constraints.IResolveConstraint NamingAt(string list, string index)
        => Throws.InstanceOf<ArgumentException>().With.Property("ParamName").EqualTo(list).And.Message.Contains(index);

    [Test]
    public void Bad_arguments_are_named()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        Tensor M(long b, long c, long h, long w) => Inputs.Randn([b, c, h, w]);
        Tensor[] s = [M(2, 3, 4, 4), M(2, 5, 2, 2)];
        Tensor[] t = [M(2, 3, 4, 4), M(2, 5, 2, 2)];
        Assert.That(() => gpukd.functional.fsp_loss(s, t), Throws.Nothing);
        Assert.That(() => gpukd.functional.fsp_loss(s[..1], t[..1]), OpRunner.ThrowsNaming("student_layers"), "one layer");
        Assert.That(() => gpukd.functional.fsp_loss(s, [.. t, M(2, 2, 2, 2)]), OpRunner.ThrowsNaming("teacher_layers"), "unequal counts");
        Assert.That(() => gpukd.functional.fsp_loss(s, [t[0], M(2, 4, 2, 2)]), NamingAt("teacher_layers", "teacher_layers[1]"), "channels");
        Assert.That(() => gpukd.functional.fsp_loss(s, [t[0], M(3, 5, 2, 2)]), NamingAt("teacher_layers", "teacher_layers[1]"), "batch");
        Assert.That(() => gpukd.functional.fsp_loss([s[0], M(3, 5, 2, 2)], t), OpRunner.ThrowsNaming("student_layers"), "batch within the student");
        Assert.That(() => gpukd.functional.fsp_loss([s[0], Inputs.Randn([2, 5, 4])], t), NamingAt("student_layers", "student_layers[1]"), "3-D");
        Assert.That(() => gpukd.functional.fsp_loss([s[0], M(2, 5, 4, 3)], t), OpRunner.ThrowsNaming("student_layers"), "equal H, unequal W");
        Assert.That(() => gpukd.functional.fsp_loss(s, [t[0], t[1].to(ScalarType.Float32)]), OpRunner.ThrowsNaming("teacher_layers"), "dtype");
        Assert.That(() => gpukd.functional.fsp_loss(s, [t[0], null!]), Throws.InstanceOf<ArgumentNullException>().With.Property("ParamName").EqualTo("teacher_layers"));
        Assert.That(() => gpukd.functional.fsp_loss(null!, t), Throws.InstanceOf<ArgumentNullException>().With.Property("ParamName").EqualTo("student_layers"));
        Assert.That(() => gpukd.functional.fsp_loss(s, t, [1, 2]), OpRunner.ThrowsNaming("weights"), "weights count");
        Assert.That(() => gpukd.functional.fsp_loss(s, t, [double.NaN]), OpRunner.ThrowsNaming("weights"), "NaN weight");
        Assert.That(() => gpukd.FSPLoss([double.PositiveInfinity]), OpRunner.ThrowsNaming("weights"), "module weight");
    }

    [Test]
    public void NaN_or_Inf_in_any_layer_gives_a_non_finite_loss()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Maps(TopPooled);
        for (int k = 0; k < x.Length; k++)
            foreach (var bad in new[] { double.NaN, double.PositiveInfinity })
            {
                var y = x.Select(v => v.clone()).ToArray();
                y[k][0, 0, 0, 0] = bad;
                var v = Fsp(3)(y);
                Assert.That(double.IsFinite(v.item<double>()), Is.False, Label("fsp_loss", $"{bad} in input {k}"));
            }
    }

    [Test]
    public void Module_equals_the_functional_and_keeps_its_weights_and_reduction()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var x = Maps(TopPooled);
        double[] w = [2, 0.25];
        using var mean = gpukd.FSPLoss(w);
        using var sum = gpukd.FSPLoss(reduction: nn.Reduction.Sum);
        Assert.That(mean.reduction, Is.EqualTo(nn.Reduction.Mean));
        Assert.That(mean.Weights, Is.EqualTo(w));
        Assert.That(Tolerances.Identical(mean.call(x[..3], x[3..]), gpukd.functional.fsp_loss(x[..3], x[3..], w)), Label("FSPLoss Mean"));
        Assert.That(Tolerances.Identical(sum.call(x[..3], x[3..]), gpukd.functional.fsp_loss(x[..3], x[3..], reduction: nn.Reduction.Sum)), Label("FSPLoss Sum"));
        Assert.That(() => gpukd.FSPLoss(reduction: nn.Reduction.None), OpRunner.ThrowsNaming("reduction"));
    }
}
