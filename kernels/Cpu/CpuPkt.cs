using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>The CPU twin of <see cref="Ilgpu.PktKernels"/> (same maths, one row per iteration, fixed order).</summary>
public static unsafe class CpuPkt
{
    static T RowSum<T>(T* g, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T s = T.Zero;
        for (int j = 0; j < n; j++) s += g[j] + T.One;
        return s / (T.One + T.One);
    }

    /// <summary>partial_i = Σ_j q_ij·log((q_ij + eps)/(p_ij + eps)).</summary>
    public static void LossRows<T>(T* gs, T* gt, T* partial, int n, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, 30L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            T* a = gs + (long)i * n;
            T* b = gt + (long)i * n;
            T rs = RowSum(a, n) * (T.One + T.One), rt = RowSum(b, n) * (T.One + T.One), s = T.Zero;   // 2r: p = (S + 1)/(2r)
            for (int j = 0; j < n; j++)
            {
                T p = (a[j] + T.One) / rs, q = (b[j] + T.One) / rt;
                s += Ilgpu.PktMath.KlTerm(p, q, eps);
            }
            partial[i] = s;
        });
    }

    /// <summary>∂L/∂S of one side, row by row (see <see cref="Ilgpu.PktKernels.BackwardRows{T}"/>).</summary>
    public static void BackwardRows<T>(T* gs, T* gt, T* hbar, int n, T eps, T scale, bool teacher) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, 60L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * n;
            T* a = gs + o;
            T* b = gt + o;
            T* h = hbar + o;
            T two = T.One + T.One, rs = RowSum(a, n), rt = RowSum(b, n), dot = T.Zero;
            for (int j = 0; j < n; j++)
            {
                T p = (a[j] + T.One) / (two * rs), q = (b[j] + T.One) / (two * rt);
                T g = Ilgpu.PktMath.Grad(p, q, eps, teacher ? 1 : 0);
                h[j] = g;
                dot += g * (teacher ? q : p);
            }
            T f = scale / (two * (teacher ? rt : rs));
            for (int j = 0; j < n; j++) h[j] = (h[j] - dot) * f;
        });
    }

    /// <summary>x̄ = ū/(n + eps) − x(x·ū)/(n(n + eps)²) per row (second term 0 at a zero row), in place over ū.</summary>
    public static void UnitBackward<T>(T* ubar, T* x, T* norms, int rows, int d, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, 4L * d, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            T* u = ubar + (long)r * d;
            T* xr = x + (long)r * d;
            int w = Vector<T>.Count, k = 0;
            var acc = Vector<T>.Zero;
            for (; k <= d - w; k += w) acc += Vector.Load(xr + k) * Vector.Load(u + k);
            T dot = Vector.Sum(acc);
            for (; k < d; k++) dot += xr[k] * u[k];
            T n = norms[r], a = T.One / (n + eps), f = n == T.Zero ? T.Zero : dot * a * a / n;
            var va = new Vector<T>(a);
            var vf = new Vector<T>(f);
            k = 0;
            for (; k <= d - w; k += w) (Vector.Load(u + k) * va - Vector.Load(xr + k) * vf).Store(u + k);
            for (; k < d; k++) u[k] = u[k] * a - xr[k] * f;
        });
    }
}
