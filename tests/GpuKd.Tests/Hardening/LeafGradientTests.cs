using GpuKd;
using GpuKd.Ops;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static GpuKd.Tests.OpRunner;

namespace GpuKd.Tests;

/// <summary>
/// Leaf inputs get their gradient through a no-copy view (<see cref="LeafGrad"/>): over every public op, a leaf's
/// gradient is bit-identical to the one the same input gets inside a graph (x·1), a second backward accumulates into it
/// (2g exactly), and a non-contiguous leaf gets the same values. The view must never change what autograd delivers.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class LeafGradientTests(KdBackend backend) : BackendFixture(backend)
{
    [Test]
    public void Shield_views_only_leaves_that_want_a_gradient()
    {
        using var scope = NewDisposeScope();
        var leaf = randn(3, 4).requires_grad_(true);
        var shielded = LeafGrad.Shield(leaf);
        Assert.That(shielded.is_leaf, Is.False, "a leaf that requires grad gets a view");
        unsafe { Assert.That((nint)Device.TensorMemory.Ptr<float>(shielded.detach()), Is.EqualTo((nint)Device.TensorMemory.Ptr<float>(leaf.detach())), "the view shares the leaf's storage"); }
        var inner = leaf * 2;
        Assert.That(ReferenceEquals(LeafGrad.Shield(inner), inner), "a non-leaf passes through");
        var plain = randn(3, 4);
        Assert.That(ReferenceEquals(LeafGrad.Shield(plain), plain), "no gradient wanted: passes through");
        using (no_grad()) Assert.That(LeafGrad.Shield(leaf).is_leaf, Is.True, "autograd off: passes through");
    }

    [TestCaseSource(typeof(PublicOps), nameof(PublicOps.Names))]
    public void A_leaf_gets_the_gradient_it_gets_inside_a_graph_and_accumulates(string name)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var op = PublicOps.Get(name);
        var inputs = op.Inputs(IsIlgpu ? 4 : 5, ScalarType.Float32);
        var asLeaves = Run(op, inputs);
        // Inside a graph: the op sees a non-leaf (x·1, exact), the leaf's gradient comes through MulBackward (g·1, exact).
        var bases = inputs.Select(x => x.detach().requires_grad_(true)).ToArray();
        var w = Autodiff.Weights(op.Call(bases.Select(x => x * 1).ToArray()).shape, ScalarType.Float64);
        var value = op.Call(bases.Select(x => x * 1).ToArray());
        (value * w.to(value.dtype)).sum().backward();
        for (int i = 0; i < bases.Length; i++)
            Assert.That(Tolerances.Identical(asLeaves.Grads[i], bases[i].grad!), Label(name, $"{op.Args[i]}: leaf vs in-graph gradient"));
        // A second backward into the same leaves adds: exactly 2g.
        var leaves = inputs.Select(x => x.detach().requires_grad_(true)).ToArray();
        for (int k = 0; k < 2; k++)
        {
            var v = op.Call(leaves);
            (v * w.to(v.dtype)).sum().backward();
        }
        for (int i = 0; i < leaves.Length; i++)
            Assert.That(Tolerances.Identical(leaves[i].grad!, asLeaves.Grads[i] * 2), Label(name, $"{op.Args[i]}: two backwards accumulate"));
    }

    [Test]
    public void A_non_contiguous_leaf_gets_the_same_gradient()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([6, 5], ScalarType.Float32, salt: 3);
        var t = Inputs.Randn([6, 4], ScalarType.Float32, salt: 4);
        var contiguous = s.detach().requires_grad_(true);
        gpukd.functional.sp_loss(contiguous, t).backward();
        var transposed = s.t().contiguous().t().detach().requires_grad_(true);   // the same values, column-major
        Assert.That(transposed.is_contiguous(), Is.False);
        gpukd.functional.sp_loss(transposed, t).backward();
        Assert.That(Tolerances.Identical(contiguous.grad!, transposed.grad!.contiguous()), Label("sp_loss", "column-major leaf"));
    }
}
