using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>
/// The NST CPU fast path's epilogues on raw channel Grams (G = X Yᵀ of the maps themselves: no normalised copy of
/// either map exists): the normalised entries are G_ij·ri_i·cj_j with ri, cj the reciprocal clamped row norms.
/// One owner per row, a fixed order: deterministic.
/// </summary>
internal static unsafe class CpuNst
{
    /// <summary>partial[r] = Σ_j (g[r, j]·ri[r]·cj[z·cols + j])² over the rows r of a batch of [rowsPerImage, cols]
    /// blocks (z = r / rowsPerImage).</summary>
    public static void ScaledSquares<T>(T* g, T* ri, T* cj, T* partial, int rows, int rowsPerImage, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, 3L * cols, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            T* row = g + (long)r * cols;
            T* c = cj + (long)(r / rowsPerImage) * cols;
            int w = Vector<T>.Count, j = 0;
            var acc = Vector<T>.Zero;
            for (; j <= cols - w; j += w) { var v = Vector.Load(row + j) * Vector.Load(c + j); acc += v * v; }
            T s = Vector.Sum(acc);
            for (; j < cols; j++) { T v = row[j] * c[j]; s += v * v; }
            partial[r] = s * ri[r] * ri[r];
        });
    }

    /// <summary>The backward of ŷ = x / max(n, eps) from the raw rows, in place over ȳ: x̄ = (ȳ − x(x·ȳ)/n²)/n where
    /// n &gt; eps, else 0 (a row at the clamp passes no gradient). NaN norms take the gradient branch.</summary>
    public static void NormalizeBackwardRaw<T>(T* ybar, T* x, T* norms, int rows, int d, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, 4L * d, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            T* yb = ybar + (long)r * d;
            T* xr = x + (long)r * d;
            T n = norms[r];
            if (!(n > eps) && !T.IsNaN(n)) { new Span<T>(yb, d).Clear(); return; }
            int w = Vector<T>.Count, k = 0;
            var acc = Vector<T>.Zero;
            for (; k <= d - w; k += w) acc += Vector.Load(xr + k) * Vector.Load(yb + k);
            T dot = Vector.Sum(acc);
            for (; k < d; k++) dot += xr[k] * yb[k];
            T inv = T.One / n, f = dot * inv * inv;
            var vf = new Vector<T>(f);
            var vi = new Vector<T>(inv);
            k = 0;
            for (; k <= d - w; k += w) ((Vector.Load(yb + k) - Vector.Load(xr + k) * vf) * vi).Store(yb + k);
            for (; k < d; k++) yb[k] = (yb[k] - xr[k] * f) * inv;
        });
    }
}
