using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Maths;

/// <summary>
/// The squared distance between rows i and j of centred features X [n, D] from their Gram G — written once, for
/// the ILGPU kernels (<see cref="Ilgpu.PairDistance"/>) and the CPU kernels (<see cref="Cpu.CpuPairDistance"/>).
/// The Gram form q = G_ll + G_hh − 2G_lh (l, h = the lower and higher index: q_ij and q_ji are the same bits) loses
/// everything to round-off when x_i ≈ x_j, and a GEMM does not guarantee G_ij == G_ii for equal rows, so pairs whose
/// q is within τ·(G_ll + G_hh) of zero are recomputed directly as Σ_k (x_hk − x_lk)²: exact zeros for duplicates,
/// full precision for near-duplicates, O(D) per such pair. q ≥ 0; NaN stays NaN.
/// </summary>
public static class PairMath
{
    /// <summary>q_ij from the Gram g [n, n] and the centred rows x [n, d].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Squared<T, TTable>(TTable g, TTable x, int n, int d, int i, int j, T tau)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TTable : struct, ITable<T>
    {
        if (i == j) return T.Zero;
        int lo = i < j ? i : j, hi = i < j ? j : i;
        T gll = g[(long)lo * n + lo], ghh = g[(long)hi * n + hi], glh = g[(long)lo * n + hi];
        T q = gll + ghh - (glh + glh);
        if (q <= tau * (gll + ghh)) q = Direct<T, TTable>(x, d, lo, hi);
        return q < T.Zero ? T.Zero : q;
    }

    /// <summary>Σ_k (x_hk − x_lk)², k ascending, for lo &lt; hi (the same bits for (i, j) and (j, i)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Direct<T, TTable>(TTable x, int d, int lo, int hi)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TTable : struct, ITable<T>
    {
        long ol = (long)lo * d, oh = (long)hi * d;
        T q = T.Zero;
        for (int k = 0; k < d; k++) { T e = x[oh + k] - x[ol + k]; q += e * e; }
        return q;
    }

    /// <summary>The pdist output from q: clamped below at <paramref name="clamp"/> (a comparison, so NaN is kept),
    /// and rooted unless <paramref name="squared"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Distance<T>(T q, T clamp, bool squared) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (q < clamp) q = clamp;
        return squared ? q : T.Sqrt(q);
    }
}
