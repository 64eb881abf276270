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
    /// <summary>q_ij ≥ 0 (NaN stays NaN); reads G[min, max] so q_ij and q_ji are the same bits.</summary>
    public static T Squared<T>(ArrayView<T> g, ArrayView<T> x, int n, int d, int i, int j, T tau)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (i == j) return T.Zero;
        int lo = i < j ? i : j, hi = i < j ? j : i;
        T gll = g[(long)lo * n + lo], ghh = g[(long)hi * n + hi], glh = g[(long)lo * n + hi];
        T q = gll + ghh - (glh + glh);
        if (q <= tau * (gll + ghh))
        {
            long ol = (long)lo * d, oh = (long)hi * d;
            q = T.Zero;
            for (int k = 0; k < d; k++) { T e = x[oh + k] - x[ol + k]; q += e * e; }
        }
        return q < T.Zero ? T.Zero : q;
    }
}
