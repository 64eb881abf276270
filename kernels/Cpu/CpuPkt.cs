using GpuKd.Kernels.Maths;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>The CPU twin of <see cref="Ilgpu.PktKernels"/> (same maths, one row per iteration, fixed order), in SIMD
/// chunks: each lane takes the branch of <see cref="PktMath.Phi{T}"/> that the scalar would (the series for |u| ≤ 1/8,
/// bit for bit; the direct log otherwise, with the vector log); a row's tail past the last whole chunk runs the scalar.</summary>
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

    /// <summary>The series' coefficients 1/21, 1/20, …, 1/2 in T, each computed as <see cref="PktMath.Phi{T}"/> computes
    /// it (T.One / k with k counted in T), so that the vector Horner below rounds as the scalar one, lane by lane.</summary>
    static class Series<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public static readonly Vector<T>[] Coefficients = Make();

        static Vector<T>[] Make()
        {
            var c = new Vector<T>[20];
            T k = T.One;
            for (int i = 0; i < 20; i++) k += T.One;   // k = 21
            for (int i = 0; i < 20; i++) { c[i] = new Vector<T>(T.One / k); k -= T.One; }
            return c;
        }
    }

    /// <summary>The two branches of <see cref="PktMath.Phi{T}"/> on a vector, per lane: <paramref name="near"/> marks the lanes
    /// with |u| ≤ 1/8 (not NaN, as the scalar's <c>!(|u| ≤ 1/8)</c>), <paramref name="series"/> holds φ(u) by the scalar's
    /// Horner (same coefficients and order: the same bits) and <paramref name="log"/> log((p + eps)/qe) = log(1 + u) — each
    /// computed only when some lane takes it (the other is zero). On random rows at D ≳ 100 the Grams' entries are
    /// ≈ ±1/√D, so nearly every entry is near: the series is the common case, and running it in the vector (20
    /// multiply-subtracts, no division) instead of lane by lane was most of the epilogue's time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Branches<T>(Vector<T> u, Vector<T> p, Vector<T> qe, Vector<T> ve, out Vector<T> near, out Vector<T> series, out Vector<T> log)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        near = Vector.LessThanOrEqual(Vector.Abs(u), new Vector<T>(T.One / T.CreateTruncating(8)));
        series = Vector<T>.Zero;
        log = Vector<T>.Zero;
        var bits = Vector.As<T, byte>(near);   // a mask compared as bytes (as T its set lanes are NaN)
        if (!Vector.EqualsAll(bits, Vector<byte>.Zero))
        {
            var c = Series<T>.Coefficients;
            var acc = Vector<T>.Zero;
            for (int i = 0; i < c.Length; i++) acc = c[i] - u * acc;
            series = u * u * acc;
        }
        if (!Vector.EqualsAll(bits, Vector<byte>.AllBitsSet)) log = Log((p + ve) / qe);
    }

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
                Branches(u, p, qe, ve, out var near, out var series, out var log);
                var phi = Vector.ConditionalSelect(near, series, u - log);   // PktMath.Phi
                acc += qe * phi + ve * (u - phi);
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
                    Branches(u, p, qe, ve, out var near, out var series, out var log);
                    g = Vector.ConditionalSelect(near, series - u, -log) - ve / qe;   // PktMath.Grad's teacher branch
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

    /// <summary>u = x / (norms[row] + eps) over [rows, d] (as <see cref="Ilgpu.PktKernels.Unit{T}"/>: the same division, the
    /// same bits), one pass in place of libtorch's add, broadcast and divide.</summary>
    public static void UnitRows<T>(T* x, T* norms, T* u, int rows, int d, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, 2L * d, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            T* xr = x + (long)r * d;
            T* ur = u + (long)r * d;
            T den = norms[r] + eps;
            var vd = new Vector<T>(den);
            int w = Vector<T>.Count, k = 0;
            for (; k <= d - w; k += w) (Vector.Load(xr + k) / vd).Store(ur + k);
            for (; k < d; k++) ur[k] = xr[k] / den;
        });
    }

    /// <summary>h ← h + hᵀ in place over [n, n] (the backward's H + Hᵀ without a second b² buffer): each pair
    /// (i, j), i &lt; j, summed once and written to both (the sum commutes, so the result is exactly symmetric and equal,
    /// bit for bit, to libtorch's h + h.t()); the diagonal doubled. 32×32 tiles keep the column reads in cache.</summary>
    public static void Symmetrize<T>(T* h, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int tile = 32;
        for (int i0 = 0; i0 < n; i0 += tile)
        for (int j0 = i0; j0 < n; j0 += tile)
        {
            int i1 = Math.Min(i0 + tile, n), j1 = Math.Min(j0 + tile, n);
            for (int i = i0; i < i1; i++)
            {
                T* row = h + (long)i * n;
                for (int j = Math.Max(j0, i + 1); j < j1; j++)
                {
                    T a = row[j] + h[(long)j * n + i];
                    row[j] = a;
                    h[(long)j * n + i] = a;
                }
                if (j0 == i0) row[i] += row[i];
            }
        }
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
