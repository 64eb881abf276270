using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// FSP (flow of solution procedure, Yim et al., CVPR 2017; RepDistiller's <c>FSP</c>) epilogues on the raw per-image
/// products F′ = top·botᵀ [B, Ct, Cb] of both sides (F = F′/N is the published FSP matrix, the mean over the N positions):
/// the difference D = αs·F′s − αt·F′t (α = 1/N of its side) and Σ D². The published [B, Ct, Cb, N] products never exist.
/// </summary>
public static class FspKernels
{
    /// <summary>d = αs·fs − αt·ft over the rows r of the [B·Ct, cols] tables, and partial[r] = Σ_j d[r, j]². One group of W
    /// threads per row (grid = B·Ct groups, W shared elements), lanes j = l, l + W, …, then a fixed tree.</summary>
    public static void LossRows<T>(ArrayView<T> fs, ArrayView<T> ft, ArrayView<T> d, ArrayView<T> partial, int cols, T alphaS, T alphaT)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = Grid.IdxX;
        long o = (long)r * cols;
        T s = T.Zero;
        for (int j = Group.IdxX; j < cols; j += Group.DimX)
        {
            T v = alphaS * fs[o + j] - alphaT * ft[o + j];
            d[o + j] = v;
            s += v * v;
        }
        s = GroupReduce.Sum(SharedMemory.GetDynamic<T>(), s);
        if (Group.IdxX == 0) partial[r] = s;
    }

    /// <summary>partial[r] = Σ_j d[r, j]² over the rows of d [B·Ct, cols] (the float32 path, where d comes from
    /// <see cref="WideKernels.FspDifference"/>). One group of W threads per row, a fixed tree.</summary>
    public static void SquareRows<T>(ArrayView<T> d, ArrayView<T> partial, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = Grid.IdxX;
        long o = (long)r * cols;
        T s = T.Zero;
        for (int j = Group.IdxX; j < cols; j += Group.DimX) { T v = d[o + j]; s += v * v; }
        s = GroupReduce.Sum(SharedMemory.GetDynamic<T>(), s);
        if (Group.IdxX == 0) partial[r] = s;
    }

    /// <summary>y = k·x elementwise (the residual R = 2c·α·D of one side; the teacher's k is negative).</summary>
    public static void Scale<T>(Index1D i, ArrayView<T> x, ArrayView<T> y, T k)
        where T : unmanaged, IFloatingPointIeee754<T>
        => y[i] = k * x[i];
}
