using GpuKd.Kernels.Maths;
using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>Row and column epilogues on a row-major [rows, D] matrix (one thread per
/// row or column, or one group per row for the norms: no atomics, fixed summation order).</summary>
public static class RowKernels
{
    /// <summary>n_r = ‖x_r‖₂, scaled by the row's max |x| first so that huge rows
    /// (1e20 in float32) do not overflow and tiny ones do not underflow. One group of W threads
    /// (W a power of two) per row, grid = rows groups, dynamic shared memory W elements: lane l
    /// reads k = l, l + W, … (neighbouring lanes, neighbouring addresses: coalesced, where one
    /// thread per row read W rows' worth of scattered addresses), then a fixed tree combines the
    /// lanes — deterministic, no atomics. The max is exact in any order; the sum's order is fixed
    /// by W (32 on CUDA).</summary>
    public static void RowNorms<T>(ArrayView<T> x, ArrayView<T> norms, int d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = Grid.IdxX, l = Group.IdxX, w = Group.DimX;
        var lanes = SharedMemory.GetDynamic<T>();
        long o = (long)r * d;
        // `poison` is 0 for finite rows and NaN when the row holds NaN/Inf: comparisons
        // skip NaN, so it is carried explicitly (never a finite norm for a bad row).
        T m = T.Zero, poison = T.Zero;
        for (int k = l; k < d; k += w)
        {
            T a = T.Abs(x[o + k]);
            if (a > m) m = a;
            poison += x[o + k] * T.Zero;
        }
        lanes[l] = m;
        Group.Barrier();
        for (int s = w / 2; s > 0; s /= 2)
        {
            if (l < s && lanes[l + s] > lanes[l]) lanes[l] = lanes[l + s];
            Group.Barrier();
        }
        m = lanes[0];
        Group.Barrier();   // every lane has read the max before the lanes are reused
        poison = GroupReduce.Sum(lanes, poison);
        T sum = T.Zero;
        if (m != T.Zero)
            for (int k = l; k < d; k += w) { T v = x[o + k] / m; sum += v * v; }
        sum = GroupReduce.Sum(lanes, sum);
        if (l == 0) norms[r] = m == T.Zero ? poison : m * T.Sqrt(sum) + poison;
    }

    /// <summary>y = x / max(n_row, eps), elementwise over [rows, D].</summary>
    public static void ScaleRows<T>(Index1D i, ArrayView<T> x, ArrayView<T> norms, ArrayView<T> y, int d, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
        => y[i] = x[i] / KernelMath.AtLeast(norms[i / d], eps);   // not T.Max: PTX max would turn a NaN norm into eps

    /// <summary>Backward of y = x/max(‖x‖, eps): x̄ = (ȳ − y(y·ȳ))/n where n &gt; eps, else 0
    /// (a degenerate row passes no gradient; the reference's would be ȳ/eps).</summary>
    public static void NormalizeRowsBackward<T>(Index1D index, ArrayView<T> ybar, ArrayView<T> y, ArrayView<T> norms,
        ArrayView<T> xbar, int d, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = index;
        long o = (long)r * d;
        T n = norms[r];
        if (!(n > eps) && !T.IsNaN(n)) { for (int k = 0; k < d; k++) xbar[o + k] = T.Zero; return; }
        T dot = T.Zero;
        for (int k = 0; k < d; k++) dot += y[o + k] * ybar[o + k];
        for (int k = 0; k < d; k++) xbar[o + k] = (ybar[o + k] - y[o + k] * dot) / n;
    }

    /// <summary>mean_k = (Σ_r x[r,k]) · invRows, one thread per column (invRows = 1/rows is
    /// passed in: int→T conversions do not compile in kernels).</summary>
    public static void ColumnMeans<T>(Index1D k, ArrayView<T> x, ArrayView<T> mean, int rows, int d, T invRows)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T s = T.Zero;
        for (int r = 0; r < rows; r++) s += x[(long)r * d + k];
        mean[k] = s * invRows;
    }

    /// <summary>sums_k = Σ_r x[r,k] in ascending r, compensated (Neumaier), one thread per column:
    /// neighbouring threads read neighbouring addresses (coalesced), no atomics. With the b column
    /// sums added in order on the host, this is the device-side total of a b×b table (RKD μ)
    /// without copying the b² entries back; compensation keeps float32 totals of 4096 rows at
    /// ~2 ulp instead of the plain sum's worst case of 4096 ulp.</summary>
    public static void ColumnSums<T>(Index1D k, ArrayView<T> x, ArrayView<T> sums, int rows, int d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T s = T.Zero, comp = T.Zero;
        for (int r = 0; r < rows; r++)
        {
            T v = x[(long)r * d + k], t = s + v;
            comp += T.Abs(s) >= T.Abs(v) ? (s - t) + v : (v - t) + s;
            s = t;
        }
        sums[k] = s + comp;
    }

    /// <summary>xc = x − mean (broadcast over rows): centring for translation-invariant ops.</summary>
    public static void SubtractColumnMeans<T>(Index1D i, ArrayView<T> x, ArrayView<T> mean, ArrayView<T> xc, int d)
        where T : unmanaged, IFloatingPointIeee754<T>
        => xc[i] = x[i] - mean[i % d];
}
