using System.Numerics;
using System.Runtime.CompilerServices;
using GpuKd.Kernels.Ilgpu;

namespace GpuKd.Kernels.Cpu;

/// <summary>The CPU twin of <see cref="EdgeKernels"/> (same maths, same per-row ownership), over raw memory.</summary>
public static unsafe class CpuEdge
{
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static T Q<T>(T* g, T* x, int n, int d, int i, int j, T clamp, T tau) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (i == j) return T.Zero;
        T q = CpuPairDistance.Squared(g, x, n, d, i, j, tau);
        return q < clamp ? clamp : q;
    }

    /// <summary>Row maxima and tie counts (see <see cref="EdgeKernels.RowMax{T}"/>).</summary>
    public static void RowMax<T>(T* g, T* x, T* rowMax, T* rowCount, EdgeArgs<T> a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(a.N, 4L * a.N, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            T m = T.Zero, c = T.Zero;
            for (int j = 0; j < a.N; j++)
            {
                T q = Q(g, x, a.N, a.DSelf, i, j, a.Clamp, a.Tau);
                if (T.IsNaN(m)) continue;
                if (q > m || T.IsNaN(q)) { m = q; c = T.One; }
                else if (q == m) c += T.One;
            }
            rowMax[i] = m;
            rowCount[i] = c;
        });
    }

    /// <summary>Loss per row (see <see cref="EdgeKernels.LossRows{T}"/>).</summary>
    public static void LossRows<T>(T* gs, T* xs, T* go, T* xo, T* partial, EdgeArgs<T> a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(a.N, 8L * a.N, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            T s = T.Zero;
            for (int j = 0; j < a.N; j++)
            {
                T e = Q(gs, xs, a.N, a.DSelf, i, j, a.Clamp, a.Tau) * a.InvMSelf - Q(go, xo, a.N, a.DOther, i, j, a.Clamp, a.Tau) * a.InvMOther;
                s += e * e;
            }
            partial[i] = s;
        });
    }

    /// <summary>Row sums of Ē ⊙ E^self (see <see cref="EdgeKernels.DotRows{T}"/>).</summary>
    public static void DotRows<T>(T* gs, T* xs, T* go, T* xo, T* partial, EdgeArgs<T> a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(a.N, 8L * a.N, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            T s = T.Zero;
            for (int j = 0; j < a.N; j++)
            {
                T es = Q(gs, xs, a.N, a.DSelf, i, j, a.Clamp, a.Tau) * a.InvMSelf;
                s += a.Scale * (es - Q(go, xo, a.N, a.DOther, i, j, a.Clamp, a.Tau) * a.InvMOther) * es;
            }
            partial[i] = s;
        });
    }

    /// <summary>Ḡ of the side "self" (see <see cref="EdgeKernels.Backward{T}"/>).</summary>
    public static void Backward<T>(T* gs, T* xs, T* go, T* xo, T* gbar, EdgeArgs<T> a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(a.N, 10L * a.N, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * a.N;
            T diag = T.Zero;
            for (int j = 0; j < a.N; j++)
            {
                if (j == i) continue;
                T q = Q(gs, xs, a.N, a.DSelf, i, j, a.Clamp, a.Tau);
                T qbar = T.Zero;
                if (!(q <= a.Clamp))
                {
                    qbar = a.Scale * (q * a.InvMSelf - Q(go, xo, a.N, a.DOther, i, j, a.Clamp, a.Tau) * a.InvMOther) * a.InvMSelf;
                    if (q == a.Max) qbar += a.MaxBarPerTie;
                }
                gbar[o + j] = -(qbar + qbar);
                diag += qbar + qbar;
            }
            gbar[o + i] = diag;
        });
    }
}
