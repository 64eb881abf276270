using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>IRG beyond the generic edge-loss tests of <see cref="PairLossTests"/>: max = 0, the max's
/// gradient, vertex and transformation parts (pooling, channel folding), the total with both pairings,
/// the module, and bad input.</summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class IrgLossTests(KdBackend backend) : BackendFixture(backend)
{
    static NUnit.Framework.Constraints.IResolveConstraint ThrowsNaming(string p)
        => Throws.InstanceOf<ArgumentException>().With.Property(nameof(ArgumentException.ParamName)).EqualTo(p);

    [Test]
    public void Max_0_gives_0_not_NaN([Values] bool differentiateMax)
    {
        // b = 1: the only entry is the zero diagonal.
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var (v, gs, gt) = PairAutodiff.Run((s, t) => gpukd.functional.irg_edge_loss(s, t, differentiateMax), Inputs.Randn([1, 4]), Inputs.Randn([1, 3], salt: 1));
        Assert.That(v.item<double>(), Is.EqualTo(0.0));
        Assert.That(Tolerances.MaxAbs(gs!) + Tolerances.MaxAbs(gt!), Is.EqualTo(0.0));
        var (vr, _, _) = PairAutodiff.Run((s, t) => ReferenceLosses.IrgEdgeLoss(s, t, differentiateMax), Inputs.Randn([1, 4]), Inputs.Randn([1, 3], salt: 1), false, false);
        Assert.That(vr.item<double>(), Is.EqualTo(0.0), "the reference agrees");
        // Transformation with identical layers: every distance 0, max 0.
        var x = Inputs.Randn([3, 4]);
        var (vt, g, _) = PairAutodiff.Run((a, b) => gpukd.functional.irg_transformation_loss(a, a, b, 2 * b, differentiateMax), x, Inputs.Randn([3, 4], salt: 2));
        Assert.That(Tolerances.AllFinite(vt) && Tolerances.AllFinite(g!));
    }

    [Test]
    public void Hand_computed_edge_value_and_max_gradient()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        // Student points 0, 1, 3 on a line: q = [[0,1,9],[1,0,4],[9,4,0]], E = q/9. Teacher 0, 2, 4: E = [[0,1,4],[1,0,1],[4,1,0]]/4.
        var s = tensor(new double[] { 0, 1, 3 }).reshape(3, 1);
        var t = tensor(new double[] { 0, 2, 4 }).reshape(3, 1);
        var es = new double[] { 0, 1 / 9.0, 1, 1 / 9.0, 0, 4 / 9.0, 1, 4 / 9.0, 0 };
        var et = new double[] { 0, 0.25, 1, 0.25, 0, 0.25, 1, 0.25, 0 };
        double expected = es.Zip(et, (a, b) => (a - b) * (a - b)).Sum() / 9;
        Assert.That(gpukd.functional.irg_edge_loss(s, t).item<double>(), Is.EqualTo(expected).Within(1e-15));
        // Scaling the student leaves E unchanged; with the max differentiated the loss is scale invariant, so the
        // gradient is orthogonal to x (Euler); with the max held constant it is not.
        var (_, g, _) = PairAutodiff.Run((a, b) => gpukd.functional.irg_edge_loss(a, b), s, t, true, false);
        Assert.That(Math.Abs((g! * s).sum().item<double>()), Is.LessThan(1e-14), "max differentiated: scale invariant");
        var (_, gc, _) = PairAutodiff.Run((a, b) => gpukd.functional.irg_edge_loss(a, b, false), s, t, true, false);
        Assert.That(Math.Abs((gc! * s).sum().item<double>()), Is.GreaterThan(1e-3), "max held constant");
    }

    [Test]
    public void Vertex_loss_is_the_logits_mse()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var zs = Inputs.Randn([4, 10]);
        var zt = Inputs.Randn([4, 10], salt: 1);
        Tolerances.AssertClose(gpukd.functional.irg_vertex_loss(zs, zt), ReferenceLosses.IrgVertexLoss(zs, zt), 1e-15, "vertex");
        GradCheck.Check("vertex", xs => gpukd.functional.irg_vertex_loss(xs[0], xs[1]), zs, zt);
        Assert.That(() => gpukd.functional.irg_vertex_loss(zs, Inputs.Randn([4, 9])), ThrowsNaming("teacher_logits"));
    }

    /// <summary>(student from, student to, teacher from, teacher to) shapes: equal maps, 2× pooling, channel folding
    /// either way, flat features.</summary>
    static readonly long[][][] TransformationShapes =
    [
        [[3, 2, 2, 2], [3, 2, 2, 2], [3, 3, 2, 2], [3, 3, 2, 2]],
        [[3, 2, 4, 4], [3, 4, 2, 2], [3, 4, 4, 2], [3, 2, 2, 1]],
        [[4, 4, 2, 2], [4, 2, 1, 1], [4, 2, 2, 2], [4, 4, 2, 2]],
        [[3, 6], [3, 3], [3, 5], [3, 5]],
    ];

    [Test]
    public void Transformation_loss_matches_the_reference_with_pooling_and_channel_folding([Values] bool differentiateMax)
    {
        using var _ = UseBackend();
        foreach (var shapes in TransformationShapes)
        {
            using var scope = NewDisposeScope();
            var x = shapes.Select((sh, i) => Inputs.Randn(sh, salt: i)).ToArray();
            var where = $"{string.Join(" ", shapes.Select(sh => $"[{string.Join(",", sh)}]"))} max {(differentiateMax ? "differentiated" : "constant")}";
            Tensor Ours(Tensor[] a) => gpukd.functional.irg_transformation_loss(a[0], a[1], a[2], a[3], differentiateMax);
            Tensor Ref(Tensor[] a) => ReferenceLosses.IrgTransformationLoss(a[0], a[1], a[2], a[3], differentiateMax);
            var leaves = x.Select(t => t.clone().requires_grad_(true)).ToArray();
            var refLeaves = x.Select(t => t.clone().requires_grad_(true)).ToArray();
            var v = Ours(leaves);
            var r = Ref(refLeaves);
            v.backward();
            r.backward();
            Tolerances.AssertClose(v, r, Tolerances.Float64Parity, where);
            for (int i = 0; i < 4; i++) Tolerances.AssertClose(leaves[i].grad!, refLeaves[i].grad!, Tolerances.Float64Parity, $"{where}: gradient {i}", floor: 1e-4);
            if (differentiateMax) GradCheck.Check(where, Ours, x);
        }
    }

    [Test]
    public void Transformation_rejects_incompatible_layers()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var a = Inputs.Randn([3, 2, 4, 4]);
        var t = Inputs.Randn([3, 2, 2, 2]);
        Assert.That(() => gpukd.functional.irg_transformation_loss(a, Inputs.Randn([3, 2, 3, 3]), a, t), ThrowsNaming("student_to"), "spatial not a divisor");
        Assert.That(() => gpukd.functional.irg_transformation_loss(a, Inputs.Randn([3, 3, 2, 2]), a, t), ThrowsNaming("student_to"), "channels 2 vs 3");
        Assert.That(() => gpukd.functional.irg_transformation_loss(a, Inputs.Randn([3, 8]), a, t), ThrowsNaming("student_to"), "rank");
        Assert.That(() => gpukd.functional.irg_transformation_loss(a, t, a, Inputs.Randn([2, 2, 2, 2])), ThrowsNaming("teacher_to"), "batch");
    }

    static (Tensor[] S, Tensor[] T, Tensor Zs, Tensor Zt) Network(int b)
        => ([Inputs.Randn([b, 2, 4, 4]), Inputs.Randn([b, 4, 2, 2], salt: 1), Inputs.Randn([b, 8, 1, 1], salt: 2)],
            [Inputs.Randn([b, 4, 4, 4], salt: 3), Inputs.Randn([b, 4, 2, 2], salt: 4), Inputs.Randn([b, 8, 1, 1], salt: 5)],
            Inputs.Randn([b, 5], salt: 6), Inputs.Randn([b, 5], salt: 7));

    [Test]
    public void Total_matches_the_reference_for_both_pairings([Values] IrgPairing pairing, [Values] bool differentiateMax)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var (s, t, zs, zt) = Network(IsIlgpu ? 3 : 6);
        var sl = s.Select(x => x.clone().requires_grad_(true)).ToArray();
        var rl = s.Select(x => x.clone().requires_grad_(true)).ToArray();
        var zsl = zs.clone().requires_grad_(true);
        var zrl = zs.clone().requires_grad_(true);
        var ours = gpukd.functional.irg_loss(sl, t, zsl, zt, pairing, differentiate_max: differentiateMax);
        var reference = ReferenceLosses.IrgLoss(rl, t, zrl, zt, pairing, differentiateMax: differentiateMax);
        ours.backward();
        reference.backward();
        var where = Label("irg_loss", pairing, differentiateMax ? "max differentiated" : "max constant");
        Tolerances.AssertClose(ours, reference, Tolerances.Float64Parity, where);
        for (int i = 0; i < s.Length; i++) Tolerances.AssertClose(sl[i].grad!, rl[i].grad!, Tolerances.Float64Parity, $"{where}: layer {i} gradient", floor: 1e-4);
        Tolerances.AssertClose(zsl.grad!, zrl.grad!, Tolerances.Float64Parity, $"{where}: logits gradient");
        // One-to-many: a single teacher layer is enough (then no transformation term).
        if (pairing == IrgPairing.OneToMany)
        {
            var single = gpukd.functional.irg_loss(s, [t[^1]], pairing: pairing, differentiate_max: differentiateMax);
            var expected = 5.0 * s.Select(x => ReferenceLosses.IrgEdgeLoss(x, t[^1], differentiateMax)).Aggregate((a, b) => a + b) / s.Length;
            Tolerances.AssertClose(single, expected, Tolerances.Float64Parity, $"{where}: single teacher layer");
        }
    }

    [Test]
    public void Module_equals_the_functional_and_weights_apply()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var (s, t, zs, zt) = Network(4);
        using var module = gpukd.IRGLoss(vertex_weight: 1, edge_weight: 2, transformation_weight: 3);
        var value = module.call(new IrgFeatures(s, zs), new IrgFeatures(t, zt));
        var expected = gpukd.functional.irg_loss(s, t, zs, zt, vertex_weight: 1, edge_weight: 2, transformation_weight: 3);
        Assert.That(Tolerances.Identical(value, expected));
        var parts = gpukd.functional.irg_vertex_loss(zs, zt)
            + 2 * (gpukd.functional.irg_edge_loss(s[0], t[0]) + gpukd.functional.irg_edge_loss(s[1], t[1]) + gpukd.functional.irg_edge_loss(s[2], t[2])) / 3
            + 3 * (gpukd.functional.irg_transformation_loss(s[0], s[1], t[0], t[1]) + gpukd.functional.irg_transformation_loss(s[1], s[2], t[1], t[2])) / 2;
        Tolerances.AssertClose(value, parts, 1e-14, "the sum of the parts");
    }

    [Test]
    public void Bad_input_is_rejected_naming_the_argument()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var (s, t, zs, zt) = Network(3);
        Assert.That(() => gpukd.functional.irg_loss(s, t.Take(2).ToArray()), ThrowsNaming("teacher_layers"), "one-to-one count");
        Assert.That(() => gpukd.functional.irg_loss(s, t.Take(2).ToArray(), pairing: IrgPairing.OneToMany), ThrowsNaming("teacher_layers"), "transformation count");
        Assert.That(() => gpukd.functional.irg_loss(s, t, zs, null), ThrowsNaming("teacher_logits"));
        Assert.That(() => gpukd.functional.irg_loss(Array.Empty<Tensor>(), t), ThrowsNaming("student_layers"));
        Assert.That(() => gpukd.functional.irg_loss(s, t, edge_weight: double.NaN), ThrowsNaming("edge_weight"));
        Assert.That(() => gpukd.functional.irg_edge_loss(s[0], Inputs.Randn([4, 3])), ThrowsNaming("teacher"));
        Assert.That(() => gpukd.IRGLoss(vertex_weight: double.PositiveInfinity), ThrowsNaming("vertex_weight"));
    }
}
