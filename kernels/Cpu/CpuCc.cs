using System.Numerics;
using System.Runtime.CompilerServices;
using GpuKd.Kernels.Ilgpu;

namespace GpuKd.Kernels.Cpu;

/// <summary>The CPU twin of <see cref="CcKernels"/> (same scalar maths, shared: f and f' are
/// <see cref="CcFunction.Value{T}"/> and <see cref="CcFunction.Slope{T}"/>), one row per iteration.</summary>
public static unsafe class CpuCc
{
    /// <summary>partial_i = Σ_j (f(as_ij) − f(at_ij))².</summary>
    public static void LossRows<T>(T* aS, T* aT, T* partial, int n, int kind, int order, T t, T c0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, (4L + order) * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * n;
            T s = T.Zero;
            for (int j = 0; j < n; j++)
            {
                T e = CcFunction.Value(aS[o + j], kind, order, t, c0) - CcFunction.Value(aT[o + j], kind, order, t, c0);
                s += e * e;
            }
            partial[i] = s;
        });
    }

    /// <summary>Ā = scale·(f(A^self) − f(A^other))·f'(A^self) over [n, n].</summary>
    public static void Backward<T>(T* aSelf, T* aOther, T* abar, int n, int kind, int order, T t, T c0, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, (6L + 2 * order) * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * n;
            for (int j = 0; j < n; j++)
            {
                T a = aSelf[o + j];
                abar[o + j] = scale * (CcFunction.Value(a, kind, order, t, c0) - CcFunction.Value(aOther[o + j], kind, order, t, c0))
                              * CcFunction.Slope(a, kind, order, t, c0);
            }
        });
    }
}
