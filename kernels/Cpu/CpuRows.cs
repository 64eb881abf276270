using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>Row epilogues of the CPU fast path on row-major [rows, D] memory
/// (the same maths as <see cref="Ilgpu.RowKernels"/>), parallel over rows.</summary>
internal static unsafe class CpuRows
{
    /// <summary>norms[r] = ‖x_r‖₂, scaled by the row's max |x| (no overflow for huge rows);
    /// NaN/Inf in a row give a NaN norm.</summary>
    public static void RowNorms<T>(T* x, T* norms, int rows, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, 2L * d, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            T* row = x + (long)r * d;
            // Pass 1: m = max|x| and poison = Σ x·0 (NaN iff the row holds NaN/Inf: vector max
            // may drop NaN, so it is carried separately).
            int w = Vector<T>.Count, k = 0;
            var vm = Vector<T>.Zero;
            var vp = Vector<T>.Zero;
            for (; k <= d - w; k += w)
            {
                var v = Vector.Load(row + k);
                vm = Vector.Max(vm, Vector.Abs(v));
                vp += v * Vector<T>.Zero;
            }
            T m = T.Zero, poison = Vector.Sum(vp);
            for (int j = 0; j < w; j++) if (vm[j] > m) m = vm[j];
            for (; k < d; k++)
            {
                T a = T.Abs(row[k]);
                if (a > m) m = a;
                poison += row[k] * T.Zero;
            }
            if (m == T.Zero || !T.IsFinite(m)) { norms[r] = m == T.Zero ? poison : m * T.Zero + poison; return; }
            // Pass 2: Σ (x/m)², which cannot overflow.
            T inv = T.One / m;
            var vi = new Vector<T>(inv);
            var vs = Vector<T>.Zero;
            k = 0;
            for (; k <= d - w; k += w) { var v = Vector.Load(row + k) * vi; vs += v * v; }
            T s = Vector.Sum(vs);
            for (; k < d; k++) { T v = row[k] * inv; s += v * v; }
            norms[r] = m * T.Sqrt(s) + poison;
        });
    }

    /// <summary>Copies the upper triangle of each n×n matrix onto the lower one, in 64×64 tiles:
    /// a GEMM's XXᵀ need not be bit-symmetric, and the epilogues read rows only when it is.</summary>
    public static void MirrorUpper<T>(T* g, int batch, int n) where T : unmanaged
    {
        const int tile = 64;
        int tiles = (n + tile - 1) / tile;
        CpuParallel.For(batch * tiles, (long)tile * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (bt) =>
        {
            T* m = g + (long)(bt / tiles) * n * n;
            int i0 = bt % tiles * tile;
            for (int j0 = 0; j0 <= i0; j0 += tile)           // tiles at or left of the diagonal
                for (int i = i0; i < Math.Min(i0 + tile, n); i++)
                    for (int j = j0; j < Math.Min(Math.Min(j0 + tile, n), i); j++)
                        m[(long)i * n + j] = m[(long)j * n + i];
        });
    }

    /// <summary>y_r = x_r / max(norms_r, eps) (NaN norms kept: T.Max propagates NaN), one pass per row.</summary>
    public static void ScaleRows<T>(T* x, T* norms, T* y, int rows, int d, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, d, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            long o = (long)r * d;
            T n = norms[r];
            T den = T.IsNaN(n) ? n : T.Max(n, eps);
            int w = Vector<T>.Count, k = 0;
            var vd = new Vector<T>(den);
            for (; k <= d - w; k += w) (Vector.Load(x + o + k) / vd).Store(y + o + k);
            for (; k < d; k++) y[o + k] = x[o + k] / den;
        });
    }

    /// <summary>Backward of y = x/max(‖x‖, eps): x̄ = (ȳ − y(y·ȳ))/n where n &gt; eps, else 0.</summary>
    public static void NormalizeRowsBackward<T>(T* ybar, T* y, T* norms, T* xbar, int rows, int d, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, 3L * d, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            long o = (long)r * d;
            T n = norms[r];
            if (!(n > eps) && !T.IsNaN(n)) { new Span<T>(xbar + o, d).Clear(); return; }
            T dot = Simd.Dot(y + o, ybar + o, d);
            Simd.ProjectOut(ybar + o, y + o, dot, T.One / n, xbar + o, d);
        });
    }
}
