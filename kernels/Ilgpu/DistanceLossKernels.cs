using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// RKD distance-loss epilogue: with ψ = d·invMu and ψ' = dO·invMuO (this side, the other),
/// loss rows Σ_j h(ψ_ij − ψ'_ij), and the gradient d̄ = r·invMu − [i ≠ j] (Σ r·d)·invMu²/m,
/// r = scale·h'(ψ − ψ'). One thread per row for the sums (fixed order, no atomics); the host
/// adds the n row values in order.
/// </summary>
public static class DistanceLossKernels
{
    /// <summary>partial[i] = Σ_j h(ψ_ij − ψ'_ij), h = smooth-L1 (β = 1).</summary>
    public static void Partials<T>(Index1D index, ArrayView<T> d, ArrayView<T> dO, T invMu, T invMuO, ArrayView<T> partial, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = index;
        T half = T.One / (T.One + T.One), sum = T.Zero;
        for (int j = 0; j < n; j++)
        {
            long o = (long)i * n + j;
            T z = T.Abs(d[o] * invMu - dO[o] * invMuO);
            T m = z < T.One ? z : T.One;
            sum += m * (z - half * m);
        }
        partial[i] = sum;
    }

    /// <summary>Pass 1, one thread per row: r into dbar and rowDots[i] = Σ_j r_ij d_ij.</summary>
    public static void Residuals<T>(Index1D index, ArrayView<T> d, ArrayView<T> dO, T invMu, T invMuO, T scale,
        ArrayView<T> dbar, ArrayView<T> rowDots, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = index;
        T dot = T.Zero;
        for (int j = 0; j < n; j++)
        {
            long o = (long)i * n + j;
            T z = d[o] * invMu - dO[o] * invMuO;
            if (z > T.One) z = T.One;
            if (z < -T.One) z = -T.One;
            T r = scale * z;
            dbar[o] = r;
            dot += r * d[o];
        }
        rowDots[i] = dot;
    }

    /// <summary>Pass 2, elementwise: d̄ = r·invMu − muTerm off the diagonal.</summary>
    public static void Finish<T>(Index1D index, ArrayView<T> dbar, T invMu, T muTerm, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int e = index;
        dbar[e] = dbar[e] * invMu - (e / n == e % n ? T.Zero : muTerm);
    }
}
