using GpuKd.Kernels.Maths;
using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// NST (neuron selectivity transfer, polynomial kernel; RepDistiller's <c>NSTLoss</c>) epilogues on the batched Gram
/// G = ẐẐᵀ of the stacked, spatially normalised channels Ẑ = [Ŝ; T̂] ([B, n, n], n = Cs + Ct): the ss, st/ts and tt
/// blocks are the three polynomial kernels' dot products, so L = Σ w(i, j)·G_ij² with w = ws on the ss block, wst on
/// the two cross blocks and wt on the tt block (the published means: 1/(B·Cs²), −1/(B·Cs·Ct), 1/(B·Ct²)). The
/// [B, C, C, H·W] products of the published code never exist.
/// </summary>
public static class NstKernels
{
    static T Weight<T>(int i, int j, int cs, T ws, T wst, T wt) where T : unmanaged, IFloatingPointIeee754<T>
        => i < cs ? (j < cs ? ws : wst) : (j < cs ? wst : wt);

    /// <summary>partial[r] = Σ_j w(i, j)·G[r, j]² for the rows r of the [B·n, n] table (i = r mod n). One group of W
    /// threads per row (grid = B·n groups, W shared elements), lanes j = l, l + W, …, then a fixed tree.</summary>
    public static void LossRows<T>(ArrayView<T> g, ArrayView<T> partial, int n, int cs, T ws, T wst, T wt)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = Grid.IdxX, i = r % n;
        long o = (long)r * n;
        T s = T.Zero;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            T v = g[o + j];
            s += Weight(i, j, cs, ws, wst, wt) * v * v;
        }
        s = GroupReduce.Sum(SharedMemory.GetDynamic<T>(), s);
        if (Group.IdxX == 0) partial[r] = s;
    }

    /// <summary>m = 2·w(i, j)·G elementwise over [B, n, n] (the loss's ∂L/∂G; pass wt = 0 to hold the teacher–teacher
    /// term constant, as the published <c>.detach()</c> does). Ẑ̄ = (m + mᵀ)Ẑ follows.</summary>
    public static void Weigh<T>(Index1D e, ArrayView<T> g, ArrayView<T> m, int n, int cs, T ws, T wst, T wt)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long k = e;
        int j = (int)(k % n), i = (int)(k / n % n);
        T w = Weight(i, j, cs, ws, wst, wt);
        m[e] = (w + w) * g[e];
    }

    /// <summary>The stacked unit channels, read from both maps in place: unit[z, i, p] = x[z, i′, p] / max(norm, eps) with
    /// x, norm the student's (i &lt; cs) or the teacher's (i′ = i − cs) map and row norms (xs [B, cs, N], xt [B, n − cs, N]);
    /// the stacked norms [B·n] are written by the threads of pixel 0. One thread per element of unit [B, n, N].</summary>
    public static void StackUnit<T>(Index1D e, ArrayView<T> xs, ArrayView<T> ns, ArrayView<T> xt, ArrayView<T> nt,
        ArrayView<T> unit, ArrayView<T> norms, int n, int cs, int npix, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long k = e;
        long r = k / npix;
        int p = (int)(k - r * npix), i = (int)(r % n);
        long z = r / n;
        T x, nr;
        if (i < cs) { long row = z * cs + i; x = xs[row * npix + p]; nr = ns[row]; }
        else { long row = z * (n - cs) + (i - cs); x = xt[row * npix + p]; nr = nt[row]; }
        unit[e] = x / KernelMath.AtLeast(nr, eps);   // not T.Max: PTX max would turn a NaN norm into eps
        if (p == 0) norms[r] = nr;
    }
}
