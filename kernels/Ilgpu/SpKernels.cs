using GpuKd.Kernels.Maths;
using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Similarity-preserving KD epilogues on the two raw Grams G̃ = XXᵀ (DESIGN §4, REFERENCE.md SP):
/// G_ij = G̃_ij / max(‖G̃_i‖, eps), L = Σ (G^S − G^T)² / b². The normalised matrices are never
/// stored: each row is recomputed from G̃ and its norm. One group of W threads per row (grid = n groups, dynamic
/// shared memory W elements): lane l takes j = l, l + W, … (coalesced), a fixed tree combines the lanes
/// (<see cref="GroupReduce"/>): deterministic, no atomics.
/// </summary>
public static class SpKernels
{
    /// <summary>partial_i = Σ_j (gs_ij / max(ns_i, eps) − gt_ij / max(nt_i, eps))² for [n, n] Grams.</summary>
    public static void LossRows<T>(ArrayView<T> gs, ArrayView<T> ns, ArrayView<T> gt, ArrayView<T> nt,
        ArrayView<T> partial, int n, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = Grid.IdxX;
        long o = (long)i * n;
        T ds = KernelMath.AtLeast(ns[i], eps), dt = KernelMath.AtLeast(nt[i], eps);   // not T.Max: PTX max drops NaN
        T s = T.Zero;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            T e = gs[o + j] / ds - gt[o + j] / dt;
            s += e * e;
        }
        s = GroupReduce.Sum(SharedMemory.GetDynamic<T>(), s);
        if (Group.IdxX == 0) partial[i] = s;
    }

    /// <summary>
    /// The backward epilogue for one side ("self"; the other side is the target): Ḡ = scale·(G^self −
    /// G^other) in normalised space, then through the row normalisation,
    /// G̃̄_i = (Ḡ_i − G_i (G_i·Ḡ_i)) / ‖G̃_i‖, and 0 for a row whose norm is ≤ eps (a zero sample:
    /// no gradient through the degenerate normalisation). X̄ = (G̃̄ + G̃̄ᵀ)X follows.
    /// </summary>
    public static void BackwardRows<T>(ArrayView<T> gself, ArrayView<T> nself, ArrayView<T> gother, ArrayView<T> nother,
        ArrayView<T> gbar, int n, T eps, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = Grid.IdxX, l = Group.IdxX, w = Group.DimX;
        long o = (long)i * n;
        T ni = nself[i];
        // The same branch for the whole group (one row), so no lane skips the barriers below.
        if (!(ni > eps) && !T.IsNaN(ni)) { for (int j = l; j < n; j += w) gbar[o + j] = T.Zero; return; }
        T dother = KernelMath.AtLeast(nother[i], eps);
        T dot = T.Zero;
        for (int j = l; j < n; j += w)
        {
            T y = gself[o + j] / ni;
            dot += y * (scale * (y - gother[o + j] / dother));
        }
        dot = GroupReduce.Sum(SharedMemory.GetDynamic<T>(), dot);
        for (int j = l; j < n; j += w)
        {
            T y = gself[o + j] / ni;
            gbar[o + j] = (scale * (y - gother[o + j] / dother) - y * dot) / ni;
        }
    }
}
