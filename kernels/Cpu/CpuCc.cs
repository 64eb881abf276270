using GpuKd.Kernels.Maths;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>The CPU twin of <see cref="Ilgpu.CcKernels"/> (same scalar maths, shared: f and f' are
/// <see cref="CcFunction.Value{T}"/> and <see cref="CcFunction.Slope{T}"/>), one row per iteration.
/// The Taylor and bilinear kernels run Vector&lt;T&gt; lanes at a time with the same per-element
/// operations in the same order (the same bits as the scalar functions); the exact RBF (exp) stays scalar.</summary>
internal static unsafe class CpuCc
{
    /// <summary>f(a) lanes for the Taylor (kind 0) or bilinear (kind ≥ 2) kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static Vector<T> Value<T>(Vector<T> a, int kind, int order, Vector<T> t, Vector<T> c0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (kind != 0) return a;
        Vector<T> term = c0, f = c0, p = Vector<T>.One;
        for (int k = 1; k <= order; k++) { term = term * t * a / p; f += term; p += Vector<T>.One; }
        return f;
    }

    /// <summary>(f(a), f'(a)) lanes for the Taylor (kind 0) or bilinear (kind ≥ 2) kernels: f' is t times the
    /// series one order shorter, i.e. the partial sum the loop for f passes through.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static (Vector<T> F, Vector<T> Slope) ValueSlope<T>(Vector<T> a, int kind, int order, Vector<T> t, Vector<T> c0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (kind != 0) return (a, Vector<T>.One);
        if (order == 0) return (c0, Vector<T>.Zero);
        Vector<T> term = c0, f = c0, p = Vector<T>.One, shorter = c0;
        for (int k = 1; k <= order; k++)
        {
            if (k == order) shorter = f;
            term = term * t * a / p; f += term; p += Vector<T>.One;
        }
        return (f, t * shorter);
    }

    /// <summary>partial_i = Σ_j (f(as_ij) − f(at_ij))².</summary>
    public static void LossRows<T>(T* aS, T* aT, T* partial, int n, int kind, int order, T t, T c0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, (4L + order) * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * n;
            int w = Vector<T>.Count, j = 0;
            T s = T.Zero;
            if (kind != 1)
            {
                var vt = new Vector<T>(t);
                var vc = new Vector<T>(c0);
                var acc = Vector<T>.Zero;
                for (; j <= n - w; j += w)
                {
                    var e = Value(Vector.Load(aS + o + j), kind, order, vt, vc) - Value(Vector.Load(aT + o + j), kind, order, vt, vc);
                    acc += e * e;
                }
                s = Vector.Sum(acc);
            }
            for (; j < n; j++)
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
            int w = Vector<T>.Count, j = 0;
            if (kind != 1)
            {
                var vt = new Vector<T>(t);
                var vc = new Vector<T>(c0);
                var vs = new Vector<T>(scale);
                for (; j <= n - w; j += w)
                {
                    var (f, slope) = ValueSlope(Vector.Load(aSelf + o + j), kind, order, vt, vc);
                    (vs * (f - Value(Vector.Load(aOther + o + j), kind, order, vt, vc)) * slope).Store(abar + o + j);
                }
            }
            for (; j < n; j++)
            {
                T a = aSelf[o + j];
                abar[o + j] = scale * (CcFunction.Value(a, kind, order, t, c0) - CcFunction.Value(aOther[o + j], kind, order, t, c0))
                              * CcFunction.Slope(a, kind, order, t, c0);
            }
        });
    }
}
