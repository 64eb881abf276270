using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>The CPU twin of <see cref="Ilgpu.NstKernels"/>: the weighted sum of squares of the stacked Gram's rows.</summary>
public static unsafe class CpuNst
{
    /// <summary>partial[r] = Σ_j w(i, j)·g[r, j]², i = r mod n, over the rows of the [rows, n] table; w = ws on the
    /// ss block (i, j &lt; cs), wt on the tt block, wst on the cross blocks. One owner per row, fixed order.</summary>
    public static void LossRows<T>(T* g, T* partial, int rows, int n, int cs, T ws, T wst, T wt) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, 2L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            T* row = g + (long)r * n;
            int i = r % n;
            T a = i < cs ? ws : wst, b = i < cs ? wst : wt;   // weights of columns j < cs and j ≥ cs
            partial[r] = a * SumSquares(row, cs) + b * SumSquares(row + cs, n - cs);
        });
    }

    static T SumSquares<T>(T* v, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, j = 0;
        var acc = Vector<T>.Zero;
        for (; j <= n - w; j += w) { var x = Vector.Load(v + j); acc += x * x; }
        T s = Vector.Sum(acc);
        for (; j < n; j++) s += v[j] * v[j];
        return s;
    }
}
