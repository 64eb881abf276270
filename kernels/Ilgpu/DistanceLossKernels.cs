using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// RKD distance-loss epilogue: with ψ = d·invMu and ψ' = dO·invMuO (this side, the other),
/// loss rows Σ_j h(ψ_ij − ψ'_ij), and the gradient d̄ = r·invMu − [i ≠ j] (Σ r·d)·invMu²/m,
/// r = scale·h'(ψ − ψ'); 1/μ of each side and the μ term are read from device memory (one element each), so no
/// scalar visits the host. One group of W threads per row for the sums (grid = n groups, dynamic shared
/// memory W elements): lane l takes j = l, l + W, … in order — coalesced reads — and a fixed tree
/// combines the lanes (<see cref="GroupReduce"/>; no atomics); <see cref="ScalarKernels"/> adds the n row values in order.
/// </summary>
public static class DistanceLossKernels
{
    /// <summary>partial[i] = Σ_j h(ψ_ij − ψ'_ij), h = smooth-L1 (β = 1).</summary>
    public static void Partials<T>(ArrayView<T> d, ArrayView<T> dO, ArrayView<T> invMuSelf, ArrayView<T> invMuOther, ArrayView<T> partial, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = Grid.IdxX;
        T invMu = invMuSelf[0], invMuO = invMuOther[0];
        T half = T.One / (T.One + T.One), sum = T.Zero;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            long o = (long)i * n + j;
            T z = T.Abs(d[o] * invMu - dO[o] * invMuO);
            T m = z < T.One ? z : T.One;
            sum += m * (z - half * m);
        }
        sum = GroupReduce.Sum(SharedMemory.GetDynamic<T>(), sum);
        if (Group.IdxX == 0) partial[i] = sum;
    }

    /// <summary>Pass 1, one group per row: r into dbar and rowDots[i] = Σ_j r_ij d_ij.</summary>
    public static void Residuals<T>(ArrayView<T> d, ArrayView<T> dO, ArrayView<T> invMuSelf, ArrayView<T> invMuOther, T scale,
        ArrayView<T> dbar, ArrayView<T> rowDots, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = Grid.IdxX;
        T invMu = invMuSelf[0], invMuO = invMuOther[0];
        T dot = T.Zero;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            long o = (long)i * n + j;
            T z = d[o] * invMu - dO[o] * invMuO;
            if (z > T.One) z = T.One;
            if (z < -T.One) z = -T.One;
            T r = scale * z;
            dbar[o] = r;
            dot += r * d[o];
        }
        dot = GroupReduce.Sum(SharedMemory.GetDynamic<T>(), dot);
        if (Group.IdxX == 0) rowDots[i] = dot;
    }

    /// <summary>Pass 2, elementwise: d̄ = r·invMu − muTerm off the diagonal.</summary>
    public static void Finish<T>(Index1D index, ArrayView<T> dbar, ArrayView<T> invMu, ArrayView<T> muTerm, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int e = index;
        dbar[e] = dbar[e] * invMu[0] - (e / n == e % n ? T.Zero : muTerm[0]);
    }
}
