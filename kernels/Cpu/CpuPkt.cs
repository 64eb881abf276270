using GpuKd.Kernels.Maths;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>The CPU twin of <see cref="Ilgpu.PktKernels"/> (same maths, one row per iteration, fixed order). SIMD chunks where
/// every lane takes the direct branch of <see cref="PktMath.Phi{T}"/> (|u| &gt; 1/8: the common case away from the
/// teacher); a chunk with a lane near the teacher runs the scalar series for all its lanes.</summary>
internal static unsafe class CpuPkt
{
    static T RowSum<T>(T* g, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, j = 0;
        var acc = Vector<T>.Zero;
        for (; j <= n - w; j += w) acc += Vector.Load(g + j) + Vector<T>.One;
        T s = Vector.Sum(acc);
        for (; j < n; j++) s += g[j] + T.One;
        return s;   // 2·Σ_j (S_ij + 1)/2
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector<T> Log<T>(Vector<T> v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(float)) return Vector.As<float, T>(Vector.Log(Vector.As<T, float>(v)));
        return Vector.As<double, T>(Vector.Log(Vector.As<T, double>(v)));
    }

    static bool AllFar<T>(Vector<T> u) where T : unmanaged, IFloatingPointIeee754<T>
        => Vector.GreaterThanAll(Vector.Abs(u), new Vector<T>(T.One / T.CreateTruncating(8)));

    /// <summary>partial_i = Σ_j q_ij·log((q_ij + eps)/(p_ij + eps)), each term as <see cref="PktMath.KlTerm{T}"/>.</summary>
    public static void LossRows<T>(T* gs, T* gt, T* partial, int n, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, 30L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            T* a = gs + (long)i * n;
            T* b = gt + (long)i * n;
            T rs = RowSum(a, n), rt = RowSum(b, n), s = T.Zero;   // 2r: p = (S + 1)/(2r)
            int w = Vector<T>.Count, j = 0;
            var acc = Vector<T>.Zero;
            Vector<T> vrs = new(rs), vrt = new(rt), ve = new(eps);
            for (; j <= n - w; j += w)
            {
                var p = (Vector.Load(a + j) + Vector<T>.One) / vrs;
                var q = (Vector.Load(b + j) + Vector<T>.One) / vrt;
                var qe = q + ve;
                var u = (p - q) / qe;
                if (AllFar(u))
                {
                    var phi = u - Log((p + ve) / qe);
                    acc += qe * phi + ve * (u - phi);
                }
                else
                    for (int k = 0; k < w; k++) s += PktMath.KlTerm(p[k], q[k], eps);
            }
            s += Vector.Sum(acc);
            for (; j < n; j++) s += PktMath.KlTerm((a[j] + T.One) / rs, (b[j] + T.One) / rt, eps);
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
            T rs = RowSum(a, n), rt = RowSum(b, n), dot = T.Zero;
            int w = Vector<T>.Count, j = 0;
            Vector<T> vrs = new(rs), vrt = new(rt), ve = new(eps), vdot = Vector<T>.Zero;
            for (; j <= n - w; j += w)
            {
                var p = (Vector.Load(a + j) + Vector<T>.One) / vrs;
                var q = (Vector.Load(b + j) + Vector<T>.One) / vrt;
                Vector<T> g;
                if (!teacher) g = (p - q + ve) / (p + ve);
                else
                {
                    var qe = q + ve;
                    var u = (p - q) / qe;
                    if (AllFar(u)) g = -Log((p + ve) / qe) - ve / qe;
                    else
                    {
                        for (int k = 0; k < w; k++) h[j + k] = PktMath.Grad(p[k], q[k], eps, 1);
                        g = Vector.Load(h + j);
                    }
                }
                g.Store(h + j);
                vdot += g * (teacher ? q : p);
            }
            dot = Vector.Sum(vdot);
            for (; j < n; j++)
            {
                T p = (a[j] + T.One) / rs, q = (b[j] + T.One) / rt;
                T g = PktMath.Grad(p, q, eps, teacher ? 1 : 0);
                h[j] = g;
                dot += g * (teacher ? q : p);
            }
            T f = scale / (teacher ? rt : rs);   // scale·½·(g − dot)/r with 2r in rs/rt
            var vf = new Vector<T>(f);
            var vd = new Vector<T>(dot);
            j = 0;
            for (; j <= n - w; j += w) ((Vector.Load(h + j) - vd) * vf).Store(h + j);
            for (; j < n; j++) h[j] = (h[j] - dot) * f;
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
