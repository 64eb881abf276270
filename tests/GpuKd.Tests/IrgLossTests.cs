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
        // Transformation with identical layers: every distance 0, at the 1e-12 clamp, so the student's vector is all
        // ones (KD-Zoo's clamp) and the loss is the reference's; gradient finite.
        var x = Inputs.Randn([3, 4]);
        var y = Inputs.Randn([3, 4], salt: 2);
        var (vt, g, _) = PairAutodiff.Run((a, b) => gpukd.functional.irg_transformation_loss(a, a, b, 2 * b, differentiateMax), x, y);
        Assert.That(Tolerances.AllFinite(vt) && Tolerances.AllFinite(g!));
        Tolerances.AssertClose(vt, ReferenceLosses.IrgTransformationLoss(x, x, y, 2 * y, differentiateMax), Tolerances.Float64Parity, "identical layers");
        Assert.That(vt.item<double>(), Is.GreaterThan(0.01), "ones against the teacher's normalised vector, not 0 against it");
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
    /// either way, flat features, and adaptive pooling by non-integer ratios (5×5 → 2×2, 7×3 → 3×2), a map larger in
    /// width only, and one larger in height but narrower (KD-Zoo pools whenever l1 is taller: adaptive pooling then
    /// widens), b = 1, 2, 3, 4.</summary>
    static readonly long[][][] TransformationShapes =
    [
        [[3, 2, 2, 2], [3, 2, 2, 2], [3, 3, 2, 2], [3, 3, 2, 2]],
        [[3, 2, 4, 4], [3, 4, 2, 2], [3, 4, 4, 2], [3, 2, 2, 1]],
        [[4, 4, 2, 2], [4, 2, 1, 1], [4, 2, 2, 2], [4, 4, 2, 2]],
        [[3, 6], [3, 3], [3, 5], [3, 5]],
        [[3, 2, 5, 5], [3, 4, 2, 2], [3, 3, 7, 3], [3, 3, 3, 2]],
        [[2, 2, 4, 6], [2, 2, 4, 3], [2, 4, 5, 5], [2, 8, 2, 2]],
        [[3, 2, 4, 2], [3, 2, 2, 3], [3, 1, 3, 3], [3, 2, 1, 1]],
        [[1, 2, 5, 5], [1, 4, 2, 2], [1, 2, 3, 3], [1, 2, 2, 2]],
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
        Assert.That(() => gpukd.functional.irg_transformation_loss(a, Inputs.Randn([3, 2, 3, 3]), a, t), Throws.Nothing, "4×4 → 3×3: adaptive pooling");
        Assert.That(() => gpukd.functional.irg_transformation_loss(a, Inputs.Randn([3, 2, 5, 5]), a, t), ThrowsNaming("student_to"), "l2's map larger");
        Assert.That(() => gpukd.functional.irg_transformation_loss(a, t, t, a), ThrowsNaming("teacher_to"), "teacher's l2 map larger");
        Assert.That(() => gpukd.functional.irg_transformation_loss(a, Inputs.Randn([3, 8, 2, 2]), a, t), ThrowsNaming("student_to"), "channels 2 vs 8");
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

    /// <summary>KD-Zoo-like networks: fm1 → fm2 pools 5×5 → 2×2 (not an integer ratio) and doubles the channels
    /// (fm2's pairs folded), feat [b, D]; logits [b, 5]. <paramref name="duplicate"/>: the student's sample 1 repeats
    /// sample 0 in every layer (edge entries at the clamp, tied maxima).</summary>
    static (Tensor[] S, Tensor[] T) Published(int b, bool duplicate, int salt = 0)
    {
        Tensor[] s = [Inputs.Randn([b, 3, 5, 5], salt: salt), Inputs.Randn([b, 6, 2, 2], salt: salt + 1), Inputs.Randn([b, 7], salt: salt + 2), Inputs.Randn([b, 5], salt: salt + 3)];
        Tensor[] t = [Inputs.Randn([b, 4, 5, 5], salt: salt + 4), Inputs.Randn([b, 8, 2, 2], salt: salt + 5), Inputs.Randn([b, 9], salt: salt + 6), Inputs.Randn([b, 5], salt: salt + 7)];
        if (duplicate && b > 1)
            using (no_grad()) foreach (var x in s) x[1] = x[0];
        return (s, t);
    }

    [Test]
    public void Transitions_0_1_give_the_published_kd_zoo_irg([Values(2, 3, 5)] int b, [Values] bool duplicate)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var (s, t) = Published(b, duplicate);
        var leaves = s.Select(x => x.clone().requires_grad_(true)).ToArray();
        var refLeaves = s.Select(x => x.clone().requires_grad_(true)).ToArray();
        var ours = gpukd.functional.irg_loss(leaves[..3], t[..3], leaves[3], t[3], transitions: [(0, 1)]);
        var published = ReferenceLosses.KdZooIrg(refLeaves, t);
        ours.backward();
        published.backward();
        var where = Label("irg_loss transitions [(0, 1)]", $"b = {b}", duplicate ? "duplicate sample" : "random");
        Tolerances.AssertClose(ours, published, Tolerances.Float64Parity, where);
        // A duplicate sample ties the edge maxima (q_0k = q_1k): the published code splits the max's gradient over the
        // entries its GEMM happens to make bit-equal (XXᵀ is not bit-symmetric), GpuKd over all of them (its distances
        // are), so there only the value and a finite gradient are compared.
        for (int i = 0; i < 4; i++)
            if (duplicate) Assert.That(Tolerances.AllFinite(leaves[i].grad!), $"{where}: gradient of input {i} finite");
            else Tolerances.AssertClose(leaves[i].grad!, refLeaves[i].grad!, Tolerances.Float64Parity, $"{where}: gradient of input {i}", floor: 1e-4);
        // The default (consecutive transitions) adds fm2 → feat, which the published loss never computes: it is not
        // even defined for these ranks, so it is refused rather than silently differing.
        Assert.That(() => gpukd.functional.irg_loss(s[..3], t[..3], s[3], t[3]), ThrowsNaming("student_to"), where + ": default transitions");
        // The module with the same transitions is the same call.
        using var module = gpukd.IRGLoss(transitions: [(0, 1)]);
        Assert.That(Tolerances.Identical(module.call(new IrgFeatures(s[..3], s[3]), new IrgFeatures(t[..3], t[3])),
                                         gpukd.functional.irg_loss(s[..3], t[..3], s[3], t[3], transitions: [(0, 1)])), where + ": module");
        if (!duplicate && b == 3)
            GradCheck.Check(where, xs => gpukd.functional.irg_loss(xs[..3], t[..3], xs[3], t[3], transitions: [(0, 1)]), s);
    }

    [Test]
    public void Transitions_choose_the_transformation_terms()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var (s, t, zs, zt) = Network(4);
        var where = Label("irg_loss transitions");
        foreach (var transitions in new (int, int)[][] { [], [(1, 2)], [(0, 1), (1, 2)], [(1, 2), (0, 1), (1, 2)] })
        {
            var ours = gpukd.functional.irg_loss(s, t, zs, zt, transitions: transitions);
            var reference = ReferenceLosses.IrgLoss(s, t, zs, zt, transitions: transitions);
            Tolerances.AssertClose(ours, reference, Tolerances.Float64Parity, $"{where}: [{string.Join(", ", transitions)}]");
        }
        Assert.That(Tolerances.Identical(gpukd.functional.irg_loss(s, t, zs, zt, transitions: [(0, 1), (1, 2)]), gpukd.functional.irg_loss(s, t, zs, zt)),
                    where + ": null = the consecutive pairs");
        Assert.That(() => gpukd.functional.irg_loss(s, t, transitions: [(0, 3)]), ThrowsNaming("transitions"), "index past the layers");
        Assert.That(() => gpukd.functional.irg_loss(s, t, transitions: [(-1, 1)]), ThrowsNaming("transitions"), "negative index");
        Assert.That(() => gpukd.functional.irg_loss(s, t, transitions: [(1, 1)]), ThrowsNaming("transitions"), "a layer to itself");
        Assert.That(() => gpukd.functional.irg_loss(s, [t[^1]], pairing: IrgPairing.OneToMany, transitions: [(0, 1)]), ThrowsNaming("teacher_layers"),
                    "a transition needs every teacher layer");
        Assert.That(() => gpukd.functional.irg_loss(s, [t[^1]], pairing: IrgPairing.OneToMany, transitions: []), Throws.Nothing, "no transition: one teacher layer is enough");
        Assert.That(() => gpukd.IRGLoss(transitions: [(2, 2)]), ThrowsNaming("transitions"), "module: a layer to itself");
        using var module = gpukd.IRGLoss(transitions: [(0, 5)]);
        Assert.That(() => module.call(new IrgFeatures(s, zs), new IrgFeatures(t, zt)), ThrowsNaming("transitions"), "module: index past the layers");
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
