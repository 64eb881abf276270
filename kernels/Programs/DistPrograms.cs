using System.Numerics;
using GpuKd.Kernels.Launch;

namespace GpuKd.Kernels.Programs;

/// <summary>What the DIST loss keeps: the logits zs, zt [b, K] (read in place, forward only), the softmaxes ys, yt
/// [b, K], and the statistics tables rows [5, b] and cols [5, K] (mean_s, mean_t, ‖c_s‖, ‖c_t‖, 1 − corr).</summary>
public readonly record struct DistState<T>(Buf<T> Zs, Buf<T> Zt, Buf<T> Ys, Buf<T> Yt, Buf<T> Rows, Buf<T> Cols) where T : unmanaged;

/// <summary>
/// DIST (Huang et al., NeurIPS 2022; torchdistill's <c>DISTLoss</c>) as a launch sequence (<see cref="Ilgpu.DistKernels"/>):
/// one row kernel (both softmaxes and the row statistics), one column kernel, one scalar kernel for the loss; backward one
/// elementwise row kernel per side. O(bK) work and memory; scalars stay on the device.
/// </summary>
public static class DistPrograms<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    static LaunchShape RowGroups(IKdDevice dev, int rows)
    {
        int w = dev.Traits.RowGroup;
        return LaunchShape.Groups(rows, 1, 1, w, 1, w * K<T>.Size);
    }

    /// <summary>Forward: loss[0] = rowScale·Σ_i (1 − ρ_i) + colScale·Σ_k (1 − σ_k).</summary>
    public static void Forward(IKdDevice dev, DistState<T> st, Buf<T> loss, int b, int k, double tau, double eps, double rowScale, double colScale)
    {
        long n = (long)b * k;
        foreach (var (v, name) in new[] { (st.Zs, "zs"), (st.Zt, "zt"), (st.Ys, "ys"), (st.Yt, "yt") }) v.Need(n, name);
        st.Rows.Need(5L * b, "rows");
        st.Cols.Need(5L * k, "cols");
        dev.Launch(K<T>.DistRows, RowGroups(dev, b), st.Zs, st.Zt, st.Ys, st.Yt, st.Rows, b, k, K<T>.C(tau), K<T>.C(1.0 / k), K<T>.C(eps),
                   K<T>.C(1.4426950408889634), K<T>.Size == 4 ? K<T>.C(0.693359375) : K<T>.C(0.693147180369123816490),
                   K<T>.Size == 4 ? K<T>.C(-2.12194440e-4) : K<T>.C(1.90821492927058770002e-10));
        dev.Launch(K<T>.DistColumns, LaunchShape.Extent1(k), st.Ys, st.Yt, st.Cols, b, k, K<T>.C(1.0 / b), K<T>.C(eps));
        dev.Launch(K<T>.DistLoss, LaunchShape.Extent1(1), st.Rows, st.Cols, loss.Need(1, nameof(loss)), b, k, K<T>.C(rowScale), K<T>.C(colScale));
    }

    /// <summary>Backward of the student (<paramref name="teacher"/> false) or the teacher into zbar [b, K], times upstream[0].</summary>
    public static void Backward(IKdDevice dev, DistState<T> st, bool teacher, Buf<T> upstream, Buf<T> zbar, int b, int k, double tau, double eps,
        double rowScale, double colScale)
    {
        upstream.Need(1, nameof(upstream));
        dev.Launch(K<T>.DistBackward, RowGroups(dev, b), teacher ? st.Yt : st.Ys, teacher ? st.Ys : st.Yt, st.Rows, st.Cols, upstream,
                   zbar.Need((long)b * k, nameof(zbar)), b, k, teacher ? 1 : 0, K<T>.C(eps), K<T>.C(-rowScale), K<T>.C(-colScale), K<T>.C(1.0 / tau));
    }
}
