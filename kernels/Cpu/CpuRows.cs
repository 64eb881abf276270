using System.Numerics;

namespace GpuKd.Kernels.Cpu;

/// <summary>Row epilogues of the CPU fast path on row-major [rows, D] memory
/// (the same maths as <see cref="Ilgpu.RowKernels"/>), parallel over rows.</summary>
public static unsafe class CpuRows
{
    /// <summary>norms[r] = ‖x_r‖₂, scaled by the row's max |x| (no overflow for huge rows);
    /// NaN/Inf in a row give a NaN norm.</summary>
    public static void RowNorms<T>(T* x, T* norms, int rows, int d) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Parallel.For(0, rows, r =>
        {
            T* row = x + (long)r * d;
            T m = T.Zero, poison = T.Zero;
            for (int k = 0; k < d; k++)
            {
                T a = T.Abs(row[k]);
                if (a > m) m = a;
                poison += row[k] * T.Zero;
            }
            if (m == T.Zero) { norms[r] = poison; return; }
            T inv = T.One / m, s = T.Zero;
            for (int k = 0; k < d; k++) { T v = row[k] * inv; s += v * v; }
            norms[r] = m * T.Sqrt(s) + poison;
        });
    }

    /// <summary>Backward of y = x/max(‖x‖, eps): x̄ = (ȳ − y(y·ȳ))/n where n &gt; eps, else 0.</summary>
    public static void NormalizeRowsBackward<T>(T* ybar, T* y, T* norms, T* xbar, int rows, int d, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Parallel.For(0, rows, r =>
        {
            long o = (long)r * d;
            T n = norms[r];
            if (!(n > eps) && !T.IsNaN(n)) { new Span<T>(xbar + o, d).Clear(); return; }
            T dot = Simd.Dot(y + o, ybar + o, d);
            Simd.ProjectOut(ybar + o, y + o, dot, T.One / n, xbar + o, d);
        });
    }
}
