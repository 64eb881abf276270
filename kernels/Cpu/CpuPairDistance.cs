using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>The CPU twin of <see cref="Ilgpu.PairDistance"/>: the Gram-form squared
/// distance, recomputed from the features where round-off dominates it.</summary>
public static unsafe class CpuPairDistance
{
    /// <summary>q_ij ≥ 0 from the Gram g [n, n] and centred rows x [n, d].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static T Squared<T>(T* g, T* x, int n, int d, int i, int j, T tau) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (i == j) return T.Zero;
        int lo = Math.Min(i, j), hi = Math.Max(i, j);
        T gll = g[(long)lo * n + lo], ghh = g[(long)hi * n + hi], glh = g[(long)lo * n + hi];
        T q = gll + ghh - (glh + glh);
        if (q <= tau * (gll + ghh))
        {
            T* xl = x + (long)lo * d, xh = x + (long)hi * d;
            q = T.Zero;
            for (int k = 0; k < d; k++) { T e = xh[k] - xl[k]; q += e * e; }
        }
        return q < T.Zero ? T.Zero : q;
    }

    /// <summary>The recompute threshold τ = √u (u = 1 − pred(1), the unit round-off: 2⁻²⁴ for
    /// float, 2⁻⁵³ for double). Below τ·(G_ii + G_jj) the Gram form's round-off is at least
    /// √u of the result, so the pair is recomputed.</summary>
    public static T Tau<T>() where T : IFloatingPointIeee754<T> => T.Sqrt(T.One - T.BitDecrement(T.One));
}
