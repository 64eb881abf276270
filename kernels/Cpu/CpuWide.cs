using System.Numerics;
using System.Runtime.CompilerServices;
using GpuKd.Kernels.Maths;

namespace GpuKd.Kernels.Cpu;

/// <summary>
/// Float32 features, float64 epilogue (the CPU twin of <see cref="Ilgpu.WideKernels"/>). Where a float32
/// loss is a small difference of relations (student ≈ teacher), a relation must be right to ~1e-7 relative
/// before the difference is taken. Two float32 steps stop that: a Gram diagonal G_ii = Σ_k x_ik² from the
/// GEMM (a sum of D positive terms, its error ≈ u·√D·G_ii, far larger than an off-diagonal entry's), and the
/// b×b epilogue in float32 (q = G_ii + G_jj − 2G_ij, √, ψ = d/μ each round). Here the squared norms are
/// summed in double from the features (O(bD)), and q, d and everything after them are double (O(b²)); only
/// the off-diagonal Gram stays the float32 GEMM's.
/// </summary>
internal static unsafe class CpuWide
{
    /// <summary>norms[r] = Σ_k x_rk² in double, x [rows, d] float32; a fixed order (two
    /// <see cref="Vector{T}"/> lanes of widened floats, then the tail), so duplicates get identical bits.</summary>
    public static void SquaredNorms(float* x, double* norms, int rows, int d)
    {
        CpuParallel.For(rows, 2L * d, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            float* row = x + (long)r * d;
            int w = Vector<float>.Count, k = 0;
            var lo = Vector<double>.Zero;
            var hi = Vector<double>.Zero;
            for (; k <= d - w; k += w)
            {
                Vector.Widen(Vector.Load(row + k), out var a, out var b);
                lo += a * a;
                hi += b * b;
            }
            double s = Vector.Sum(lo + hi);
            for (; k < d; k++) { double v = row[k]; s += v * v; }
            norms[r] = s;
        });
    }

    /// <summary>dots[r] = Σ_k x_rk·v_k in double, x [rows, d] float32, v [d] double; a fixed order.</summary>
    public static void RowDots(float* x, double* v, double* dots, int rows, int d)
    {
        CpuParallel.For(rows, 2L * d, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            float* row = x + (long)r * d;
            int w = Vector<float>.Count, hw = Vector<double>.Count, k = 0;
            var lo = Vector<double>.Zero;
            var hi = Vector<double>.Zero;
            for (; k <= d - w; k += w)
            {
                Vector.Widen(Vector.Load(row + k), out var a, out var b);
                lo += a * Vector.Load(v + k);
                hi += b * Vector.Load(v + k + hw);
            }
            double s = Vector.Sum(lo + hi);
            for (; k < d; k++) s += row[k] * v[k];
            dots[r] = s;
        });
    }

    /// <summary>
    /// RKD pdist in double from the bit-symmetric float32 Gram g [n, n] of the centred float32 rows x [n, d]
    /// and their double squared norms: q_ij = n_i + n_j − 2G_ij, recomputed as Σ_k (x_ik − x_jk)² (in double,
    /// exact differences) where q ≤ τ·(n_i + n_j) with τ = √u of float32 (G_ij carries float32 round-off:
    /// duplicates and near-duplicates), clamped at <paramref name="clamp"/>, √ unless squared, diagonal 0.
    /// </summary>
    public static void DistanceForward(float* g, float* x, double* norms, double* dist, int n, int d, bool squared, double clamp)
    {
        double tau = CpuPairDistance.Tau<float>();
        CpuParallel.For(n, 4L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            float* gi = g + (long)i * n;
            double* di = dist + (long)i * n;
            double ni = norms[i];
            int w = Vector<float>.Count, hw = Vector<double>.Count, j = 0;
            var vni = new Vector<double>(ni);
            var vtau = new Vector<double>(tau);
            var vclamp = new Vector<double>(clamp);
            for (; j <= n - w; j += w)
            {
                Vector.Widen(Vector.Load(gi + j), out var g0, out var g1);
                for (int h = 0; h < 2; h++)
                {
                    int j0 = j + h * hw;
                    var vnj = Vector.Load(norms + j0);
                    var gij = h == 0 ? g0 : g1;
                    var q = vni + vnj - (gij + gij);
                    if (Vector.LessThanOrEqualAny(q, vtau * (vni + vnj)) || !Vector.EqualsAll(q, q))
                    {
                        for (int k = j0; k < j0 + hw; k++) di[k] = Entry(g, x, norms, n, d, i, k, squared, clamp, tau);
                        continue;
                    }
                    q = Vector.Max(q, vclamp);
                    (squared ? q : Vector.SquareRoot(q)).Store(di + j0);
                }
            }
            for (; j < n; j++) di[j] = Entry(g, x, norms, n, d, i, j, squared, clamp, tau);
            di[i] = 0;
        });
    }

    /// <summary>
    /// The angle ops' leg tables (<see cref="CpuAngles.Legs{T}"/>'s rule) with the leg lengths in double
    /// (<see cref="Squared"/>), each table entry rounded once to float. Reads the float32 GEMM's off-diagonal G and the
    /// norms only; <see cref="AngleGram"/> then turns G into the table the O(b³) passes read.
    /// </summary>
    public static void Legs(float* g, float* x, double* norms, float* inv, float* ginv, int n, int d, double tiny)
    {
        double tau = CpuPairDistance.Tau<float>();
        CpuParallel.For(n, 4L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (a) =>
        {
            for (int b = 0; b < n; b++)
            {
                double len = Math.Sqrt(Squared(g, x, norms, n, d, a, b, tau));
                double iv = len == 0 ? 0 : 1 / (len < tiny ? tiny : len);   // zero leg → angles exactly 0
                inv[(long)a * n + b] = (float)iv;
                ginv[(long)a * n + b] = len <= tiny ? 0f : (float)iv;
            }
        });
    }

    /// <summary>
    /// In place, the float32 Gram g [n, n] of the angle ops → the pseudo-Gram of <see cref="AngleMath"/>: g_xx =
    /// (float)norms[x], g_xy = g_yx = <see cref="AngleMath.ShiftedGram"/>(g[min, max], norms[x], norms[y]) (the GEMM's
    /// own diagonal carries ≈ √D times an off-diagonal entry's round-off, and any float32 diagonal is an error coherent
    /// over its apex's b² angles; the shift leaves every angle and distance unchanged). Row x writes its upper part and,
    /// mirrored, column x below it; it reads only its own upper part: no other row writes there.
    /// </summary>
    public static void AngleGram(float* g, double* norms, int n)
    {
        CpuParallel.For(n, 2L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (x) =>
        {
            float* gx = g + (long)x * n;
            double nx = norms[x];
            for (int y = x + 1; y < n; y++)
            {
                float v = AngleMath.ShiftedGram(gx[y], nx, norms[y]);
                gx[y] = v;
                g[(long)y * n + x] = v;
            }
            gx[x] = AngleMath.Diagonal(nx);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static double Entry(float* g, float* x, double* norms, int n, int d, int i, int j, bool squared, double clamp, double tau)
    {
        if (i == j) return 0;
        double q = Squared(g, x, norms, n, d, i, j, tau);
        if (q < clamp) q = clamp; // NaN compares false and is kept
        return squared ? q : Math.Sqrt(q);
    }

    /// <summary>q_ij ≥ 0 in double (see <see cref="DistanceForward"/>); reads G[min, max] and sums the direct
    /// form from the lower row, so q_ij and q_ji are the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    public static double Squared(float* g, float* x, double* norms, int n, int d, int i, int j, double tau)
    {
        if (i == j) return 0;
        int lo = Math.Min(i, j), hi = Math.Max(i, j);
        double nl = norms[lo], nh = norms[hi], glh = g[(long)lo * n + hi];
        double q = nl + nh - (glh + glh);
        if (q <= tau * (nl + nh)) q = Direct(x, d, lo, hi);
        return q < 0 ? 0 : q;
    }

    /// <summary>Σ_k (x_hk − x_lk)² in double (each difference of two floats is exact in double).</summary>
    public static double Direct(float* x, int d, int lo, int hi)
    {
        float* xl = x + (long)lo * d, xh = x + (long)hi * d;
        double q = 0;
        for (int k = 0; k < d; k++) { double e = (double)xh[k] - xl[k]; q += e * e; }
        return q;
    }
}
