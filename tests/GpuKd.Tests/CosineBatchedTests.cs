using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// cosine_similarity_matrix on [B, N, C] is the 2-D op applied to each item: same values and
/// gradients as stacking the per-item results (no mixing across items, no lost item).
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class CosineBatchedTests(KdBackend backend) : BackendFixture(backend)
{
    (int B, int N, int C)[] Sizes => IsIlgpu
        ? [(1, 3, 4), (3, 5, 7), (2, 17, 3), (4, 1, 5)]
        : [(1, 3, 4), (3, 5, 7), (2, 17, 33), (4, 1, 5), (5, 64, 33)];

    static Tensor Cosine(Tensor x) => OpCases.Get(OpCases.Cosine).Ours(x);

    [Test]
    public void Batched_equals_the_per_item_2d_op([Values(ScalarType.Float32, ScalarType.Float64)] ScalarType dtype)
    {
        using var _ = UseBackend();
        var tolerance = dtype == ScalarType.Float64 ? Tolerances.SameComputation : 1e-6;
        foreach (var (bb, n, ch) in Sizes)
        {
            using var scope = NewDisposeScope();
            var where = Label(OpCases.CosineBatched, $"B={bb}", $"N={n}", $"C={ch}", dtype);
            var x = Inputs.Randn([bb, n, ch], dtype);
            var w = Autodiff.Weights([bb, n, n], dtype);
            var (batched, batchedGrad) = Autodiff.ValueAndGrad(Cosine, x, w);
            Assert.That(batched.shape, Is.EqualTo(new long[] { bb, n, n }), $"{where}: shape");

            var perItem = new List<Tensor>();
            var perItemGrad = new List<Tensor>();
            for (int i = 0; i < bb; i++)
            {
                var (v, g) = Autodiff.ValueAndGrad(Cosine, x[i], w[i]);
                perItem.Add(v);
                perItemGrad.Add(g);
            }
            Tolerances.AssertClose(batched, stack(perItem), tolerance, $"{where}: value");
            Tolerances.AssertClose(batchedGrad, stack(perItemGrad), tolerance, $"{where}: gradient", floor: 1);
        }
    }
}
