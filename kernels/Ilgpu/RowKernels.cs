using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>Row and column epilogues on a row-major [rows, D] matrix (one thread per
/// row or column: no atomics, fixed summation order).</summary>
public static class RowKernels
{
    /// <summary>n_r = ‖x_r‖₂, scaled by the row's max |x| first so that huge rows
    /// (1e20 in float32) do not overflow and tiny ones do not underflow.</summary>
    public static void RowNorms<T>(Index1D index, ArrayView<T> x, ArrayView<T> norms, int d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int r = index;
        long o = (long)r * d;
        // `poison` is 0 for finite rows and NaN when the row holds NaN/Inf: comparisons
        // skip NaN, so it is carried explicitly (never a finite norm for a bad row).
        T m = T.Zero, poison = T.Zero;
        for (int k = 0; k < d; k++)
        {
            T a = T.Abs(x[o + k]);
            if (a > m) m = a;
            poison += x[o + k] * T.Zero;
        }
        if (m == T.Zero) { norms[r] = poison; return; }
        T s = T.Zero;
        for (int k = 0; k < d; k++) { T v = x[o + k] / m; s += v * v; }
        norms[r] = m * T.Sqrt(s) + poison;
    }

    /// <summary>y = x / max(n_row, eps), elementwise over [rows, D].</summary>
    public static void ScaleRows<T>(Index1D i, ArrayView<T> x, ArrayView<T> norms, ArrayView<T> y, int d, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
        => y[i] = x[i] / T.Max(norms[i / d], eps);

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
