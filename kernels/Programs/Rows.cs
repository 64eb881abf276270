using System.Numerics;
using GpuKd.Kernels.Launch;

namespace GpuKd.Kernels.Programs;

/// <summary>The row and column steps the programs share: norms, normalisation and its backward, centring, and
/// the device-side totals (a b-vector or a b×b table to one element, never through the host).</summary>
public static class Rows<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>One group of <see cref="DeviceTraits.RowGroup"/> threads per row, W shared elements for the lane tree.</summary>
    static LaunchShape RowGroups(IKdDevice dev, int rows)
    {
        int w = dev.Traits.RowGroup;
        return LaunchShape.Groups(rows, 1, 1, w, 1, w * K<T>.Size);
    }

    /// <summary>norms[r] = ‖x[r, :]‖ (overflow-safe) for x [rows, d].</summary>
    public static void Norms(IKdDevice dev, Buf<T> x, Buf<T> norms, int rows, int d)
    {
        x.Need((long)rows * d, nameof(x));
        norms.Need(rows, nameof(norms));
        dev.Launch(K<T>.RowNorms, RowGroups(dev, rows), x, norms, d);
    }

    /// <summary>y = x / max(norms[row], eps).</summary>
    public static void Scale(IKdDevice dev, Buf<T> x, Buf<T> norms, Buf<T> y, int rows, int d, double eps)
    {
        x.Need((long)rows * d, nameof(x));
        y.Need((long)rows * d, nameof(y));
        norms.Need(rows, nameof(norms));
        dev.Launch(K<T>.ScaleRows, LaunchShape.Extent1((long)rows * d), x, norms, y, d, K<T>.C(eps));
    }

    /// <summary>x̄ = (ȳ − y(y·ȳ))/n row-wise, 0 where n ≤ eps (backward of <see cref="Scale"/> after <see cref="Norms"/>).</summary>
    public static void NormalizeBackward(IKdDevice dev, Buf<T> ybar, Buf<T> y, Buf<T> norms, Buf<T> xbar, int rows, int d, double eps)
    {
        foreach (var (v, name) in new[] { (ybar, nameof(ybar)), (y, nameof(y)), (xbar, nameof(xbar)) }) v.Need((long)rows * d, name);
        norms.Need(rows, nameof(norms));
        dev.Launch(K<T>.NormalizeRowsBackward, LaunchShape.Extent1(rows), ybar, y, norms, xbar, d, K<T>.C(eps));
    }

    /// <summary>xc = x − column means of x [rows, d] (a d-element temporary).</summary>
    public static void Centre(IKdDevice dev, Buf<T> x, Buf<T> xc, int rows, int d)
    {
        x.Need((long)rows * d, nameof(x));
        xc.Need((long)rows * d, nameof(xc));
        var mean = dev.Alloc<T>(d);
        dev.Launch(K<T>.ColumnMeans, LaunchShape.Extent1(d), x, mean, rows, d, K<T>.C(1.0 / rows));
        dev.Launch(K<T>.SubtractColumnMeans, LaunchShape.Extent1((long)rows * d), x, mean, xc, d);
    }

    /// <summary>result[0] = scale · Σ of the table x [rows, d]: compensated column sums, then the d totals in order.</summary>
    public static void Total(IKdDevice dev, Buf<T> x, Buf<T> result, int rows, int d, double scale)
    {
        x.Need((long)rows * d, nameof(x));
        result.Need(1, nameof(result));
        if (rows == 1) { dev.Launch(K<T>.Total, LaunchShape.Extent1(1), x, result, d, K<T>.C(scale)); return; }
        var sums = dev.Alloc<T>(d);
        dev.Launch(K<T>.ColumnSums, LaunchShape.Extent1(d), x, sums, rows, d);
        dev.Launch(K<T>.Total, LaunchShape.Extent1(1), sums, result, d, K<T>.C(scale));
    }

    /// <summary>x *= s[0] (s: one element on the device, e.g. a loss's upstream gradient).</summary>
    public static void ScaleBy(IKdDevice dev, Buf<T> x, Buf<T> s)
    {
        s.Need(1, nameof(s));
        dev.Launch(K<T>.ScaleBy, LaunchShape.Extent1(x.Length), x, s);
    }

    /// <summary>result[0] = scale · Σ partial[0..count) for double partial sums (a widened epilogue's), summed in order
    /// (compensated) and rounded once to T.</summary>
    public static void TotalOfDouble(IKdDevice dev, Buf<double> partial, Buf<T> result, int count, double scale)
    {
        partial.Need(count, nameof(partial));
        result.Need(1, nameof(result));
        if (!K<T>.Widened) { dev.Launch(K<double>.Total, LaunchShape.Extent1(1), partial, Widened.D(result), count, scale); return; }
        var total = dev.Alloc<double>(1);
        dev.Launch(K<double>.Total, LaunchShape.Extent1(1), partial, total, count, scale);
        dev.Launch(K<T>.ToSingle, LaunchShape.Extent1(1), total, result);
    }
}
