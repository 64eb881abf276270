using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Squared distance between rows i and j of centred features X [n, D], from their Gram G.
/// The Gram form q = G_ii + G_jj − 2G_ij loses everything to round-off when x_i ≈ x_j
/// (and a GEMM does not guarantee G_ij == G_ii for equal rows), so pairs whose q is within
/// <c>tau</c>·(G_ii + G_jj) of zero are recomputed directly as Σ_k (x_ik − x_jk)²: exact
/// zeros for duplicates, full precision for near-duplicates, O(D) for each such pair.
/// </summary>
public static class PairDistance
{
    /// <summary>q_ij ≥ 0 (NaN stays NaN); reads G[min, max] so q_ij and q_ji are the same bits (<see cref="Maths.PairMath.Squared{T, TTable}"/>).</summary>
    public static T Squared<T>(ArrayView<T> g, ArrayView<T> x, int n, int d, int i, int j, T tau)
        where T : unmanaged, IFloatingPointIeee754<T>
        => Maths.PairMath.Squared<T, Maths.ViewTable<T>>(new(g), new(x), n, d, i, j, tau);
}
