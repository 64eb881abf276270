using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>The CPU twin of <see cref="Ilgpu.SpKernels"/>: SP-KD loss rows and the fused backward
/// epilogue, one row per iteration, SIMD along the row.</summary>
internal static unsafe class CpuSp
{
    /// <summary>partial_i = Σ_j (gs_ij / max(ns_i, eps) − gt_ij / max(nt_i, eps))².</summary>
    public static void LossRows<T>(T* gs, T* ns, T* gt, T* nt, T* partial, int n, T eps) where T : unmanaged, IFloatingPointIeee754<T>
        => LossRows(gs, ns, gt, nt, partial, n, n, eps);

    /// <summary>As above for <paramref name="rows"/> rows of length <paramref name="n"/> (a batch of n×n Grams stored
    /// as rows·n/n matrices one after another: ICKD's per-image channel Grams).</summary>
    public static void LossRows<T>(T* gs, T* ns, T* gt, T* nt, T* partial, int rows, int n, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, 3L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * n;
            T ds = T.Max(ns[i], eps), dt = T.Max(nt[i], eps);
            int w = Vector<T>.Count, j = 0;
            var vds = new Vector<T>(ds);
            var vdt = new Vector<T>(dt);
            var acc = Vector<T>.Zero;
            for (; j <= n - w; j += w)
            {
                var e = Vector.Load(gs + o + j) / vds - Vector.Load(gt + o + j) / vdt;
                acc += e * e;
            }
            T s = Vector.Sum(acc);
            for (; j < n; j++) { T e = gs[o + j] / ds - gt[o + j] / dt; s += e * e; }
            partial[i] = s;
        });
    }

    /// <summary>G̃̄ rows for the side "self" (see <see cref="Ilgpu.SpKernels.BackwardRows{T}"/>).</summary>
    public static void BackwardRows<T>(T* gself, T* nself, T* gother, T* nother, T* gbar, int n, T eps, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
        => BackwardRows(gself, nself, gother, nother, gbar, n, n, eps, scale);

    /// <summary>As above for <paramref name="rows"/> rows of length <paramref name="n"/> (batched Grams).</summary>
    public static void BackwardRows<T>(T* gself, T* nself, T* gother, T* nother, T* gbar, int rows, int n, T eps, T scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, 6L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * n;
            T ni = nself[i];
            if (!(ni > eps) && !T.IsNaN(ni)) { new Span<T>(gbar + o, n).Clear(); return; }
            T dother = T.Max(nother[i], eps);
            int w = Vector<T>.Count, j = 0;
            var vni = new Vector<T>(ni);
            var vdo = new Vector<T>(dother);
            var vsc = new Vector<T>(scale);
            var acc = Vector<T>.Zero;
            for (; j <= n - w; j += w)
            {
                var y = Vector.Load(gself + o + j) / vni;
                acc += y * (vsc * (y - Vector.Load(gother + o + j) / vdo));
            }
            T dot = Vector.Sum(acc);
            for (; j < n; j++) { T y = gself[o + j] / ni; dot += y * (scale * (y - gother[o + j] / dother)); }
            var vdot = new Vector<T>(dot);
            j = 0;
            for (; j <= n - w; j += w)
            {
                var y = Vector.Load(gself + o + j) / vni;
                ((vsc * (y - Vector.Load(gother + o + j) / vdo) - y * vdot) / vni).Store(gbar + o + j);
            }
            for (; j < n; j++) { T y = gself[o + j] / ni; gbar[o + j] = (scale * (y - gother[o + j] / dother) - y * dot) / ni; }
        });
    }
}
