using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Float32 features, float64 epilogue: the ILGPU twin of <see cref="Cpu.CpuWide"/> (see there for why).
/// Not generic: a generic kernel cannot widen T to double (DESIGN notes, structured KD), so these take
/// float views and write double ones. O(bD) and O(b²) work: on Hopper FP64 runs at half the FP32 rate,
/// on consumer GPUs at 1/32–1/64, still small next to the O(b²D) Gram.
/// </summary>
public static class WideKernels
{
    /// <summary>y[i] = x[i] rounded to float32 (a widened epilogue's result handed back to a float32 product).</summary>
    public static void ToSingle(Index1D i, ArrayView<double> x, ArrayView<float> y) => y[i] = (float)x[i];

    /// <summary>g[i, i] = norms[i] rounded to float32: the float32 Gram's diagonal replaced by the double squared norms
    /// (the angle passes read it; rounded once instead of summed in float32).</summary>
    public static void SetDiagonal(Index1D i, ArrayView<float> g, ArrayView<double> norms, int n) => g[(long)(int)i * n + (int)i] = (float)norms[i];

    /// <summary>One thread per row: norms[r] = Σ_k x_rk² in double, k ascending.</summary>
    public static void SquaredNorms(Index1D index, ArrayView<float> x, ArrayView<double> norms, int d)
    {
        int r = index;
        long o = (long)r * d;
        double s = 0;
        for (int k = 0; k < d; k++) { double v = x[o + k]; s += v * v; }
        norms[r] = s;
    }

    /// <summary>One thread per row: dots[r] = Σ_k x_rk·v_k in double, k ascending.</summary>
    public static void RowDots(Index1D index, ArrayView<float> x, ArrayView<double> v, ArrayView<double> dots, int d)
    {
        int r = index;
        long o = (long)r * d;
        double s = 0;
        for (int k = 0; k < d; k++) s += x[o + k] * v[k];
        dots[r] = s;
    }

    /// <summary>One thread per (i, j) (index.X = j, index.Y = i): the pdist of <see cref="Cpu.CpuWide.DistanceForward"/>.</summary>
    public static void DistanceForward(Index2D ij, ArrayView<float> g, ArrayView<float> x, ArrayView<double> norms, ArrayView<double> dist,
        int n, int d, int squared, double clamp, double tau)
    {
        int i = ij.Y, j = ij.X;
        long o = (long)i * n + j;
        if (i == j) { dist[o] = 0; return; }
        int lo = i < j ? i : j, hi = i < j ? j : i;
        double nl = norms[lo], nh = norms[hi], glh = g[(long)lo * n + hi];
        double q = nl + nh - (glh + glh);
        if (q <= tau * (nl + nh))
        {
            long ol = (long)lo * d, oh = (long)hi * d;
            q = 0;
            for (int k = 0; k < d; k++) { double e = (double)x[oh + k] - x[ol + k]; q += e * e; }
        }
        if (q < 0) q = 0;
        if (q < clamp) q = clamp; // NaN compares false and is kept
        dist[o] = squared != 0 ? q : Math.Sqrt(q);
    }

    /// <summary>One thread per (a, b) (index.X = b, index.Y = a): <see cref="Cpu.CpuWide.Legs"/>.</summary>
    public static void Legs(Index2D ab, ArrayView<float> g, ArrayView<float> x, ArrayView<double> norms, ArrayView<float> inv, ArrayView<float> ginv,
        int n, int d, double tiny, double tau)
    {
        int a = ab.Y, b = ab.X;
        double q = 0;
        if (a != b)
        {
            int lo = a < b ? a : b, hi = a < b ? b : a;
            double nl = norms[lo], nh = norms[hi], glh = g[(long)lo * n + hi];
            q = nl + nh - (glh + glh);
            if (q <= tau * (nl + nh))
            {
                long ol = (long)lo * d, oh = (long)hi * d;
                q = 0;
                for (int k = 0; k < d; k++) { double e = (double)x[oh + k] - x[ol + k]; q += e * e; }
            }
            if (q < 0) q = 0;
        }
        double len = Math.Sqrt(q);
        double iv = len == 0 ? 0 : 1 / (len < tiny ? tiny : len);
        inv[(long)a * n + b] = (float)iv;
        ginv[(long)a * n + b] = len <= tiny ? 0f : (float)iv;
    }
    // The widened Gram of the similarity losses (SP, CC): X = Xc + 1μᵀ, so XXᵀ = XcXcᵀ + m1ᵀ + 1mᵀ + |μ|² with m = Xcμ.
    // XcXcᵀ is the float32 product (its diagonal the squared norms summed in double), the rest is double.

    /// <summary>One thread per row: dots[r] = Σ_k xc_rk·μ_k in double, k ascending (m = Xcμ of the widened Gram).</summary>
    public static void MeanDots(Index1D index, ArrayView<float> xc, ArrayView<float> mean, ArrayView<double> dots, int d)
    {
        int r = index;
        long o = (long)r * d;
        double s = 0;
        for (int k = 0; k < d; k++) s += (double)xc[o + k] * mean[k];
        dots[r] = s;
    }

    /// <summary>One thread per (i, j) (index.X = j, index.Y = i): g = XXᵀ in double, ((c_ij + m_i) + m_j) + |μ|², with
    /// c the float32 Gram of the centred rows off the diagonal and their double squared norms on it.</summary>
    public static void AssembleGram(Index2D ij, ArrayView<float> c, ArrayView<double> norms, ArrayView<double> dots, ArrayView<double> mu2,
        ArrayView<double> g, int n)
    {
        int i = ij.Y, j = ij.X;
        long o = (long)i * n + j;
        double cij = i == j ? norms[i] : c[o];
        g[o] = cij + dots[i] + dots[j] + mu2[0];
    }

    /// <summary>One thread per (i, j): m_ij = (ḡ_ij + ḡ_ji)/2 rounded to float32 (so the float32 product (M + Mᵀ)Xc
    /// is (Ḡ + Ḡᵀ)Xc; halving is exact).</summary>
    public static void SymmetricHalf(Index2D ij, ArrayView<double> gbar, ArrayView<float> m, int n)
    {
        int i = ij.Y, j = ij.X;
        m[(long)i * n + j] = (float)((gbar[(long)i * n + j] + gbar[(long)j * n + i]) * 0.5);
    }

    /// <summary>One thread per row: sums_i = Σ_j (ḡ_ij + ḡ_ji) in double, j ascending (the μ part of (Ḡ + Ḡᵀ)X).</summary>
    public static void SymmetricRowSums(Index1D index, ArrayView<double> gbar, ArrayView<double> sums, int n)
    {
        int i = index;
        double s = 0;
        for (int j = 0; j < n; j++) s += gbar[(long)i * n + j] + gbar[(long)j * n + i];
        sums[i] = s;
    }

    /// <summary>One thread per element of y [rows, d]: y_ik += sums_i·μ_k (rounded once): X̄ = (Ḡ + Ḡᵀ)Xc + (row sums)μᵀ.</summary>
    public static void AddRowOuter(Index1D e, ArrayView<float> y, ArrayView<double> sums, ArrayView<float> mean, int d)
    {
        long k = e;
        int i = (int)(k / d), c = (int)(k - (long)i * d);
        y[k] = (float)(y[k] + sums[i] * mean[c]);
    }

    /// <summary>One thread per row: norms_i = √g_ii (the row norms of X from its widened Gram).</summary>
    public static void DiagonalRoots(Index1D index, ArrayView<double> g, ArrayView<double> norms, int n)
    {
        int i = index;
        norms[i] = Math.Sqrt(g[(long)i * n + i]);
    }

    /// <summary>One thread per (i, j), in place: a_ij = g_ij s_i s_j, s = 1/max(norms, eps) (CC's cosines from the widened
    /// Gram; NaN norms are kept).</summary>
    public static void Cosines(Index2D ij, ArrayView<double> g, ArrayView<double> norms, int n, double eps)
    {
        int i = ij.Y, j = ij.X;
        double ni = norms[i], nj = norms[j];
        double si = 1 / (ni < eps ? eps : ni), sj = 1 / (nj < eps ? eps : nj);
        long o = (long)i * n + j;
        g[o] = g[o] * si * sj;
    }

    /// <summary>One thread per row: the backward of <see cref="Cosines"/> after <see cref="DiagonalRoots"/>:
    /// ḡ_ij = ā_ij s_i s_j, and where norms_i &gt; eps ḡ_ii −= c_i/(2 norms_i²) with c_i = Σ_j (ā_ij + ā_ji) a_ij.</summary>
    public static void CosinesBackward(Index1D index, ArrayView<double> abar, ArrayView<double> a, ArrayView<double> norms, ArrayView<double> gbar, int n, double eps)
    {
        int i = index;
        long o = (long)i * n;
        double ni = norms[i], si = 1 / (ni < eps ? eps : ni), c = 0;
        for (int j = 0; j < n; j++)
        {
            double nj = norms[j];
            c += (abar[o + j] + abar[(long)j * n + i]) * a[o + j];
            gbar[o + j] = abar[o + j] * si * (1 / (nj < eps ? eps : nj));
        }
        if (ni > eps) gbar[o + i] -= c / (2 * ni * ni);
    }
}

/// <summary>Launchers of <see cref="WideKernels"/>, compiled once per accelerator (kept beside the kernels,
/// outside <see cref="IlgpuLaunchers{T}"/>: they mix float and double views). Sizes are checked before launch.</summary>
public sealed class WideLaunchers
{
    static readonly ConditionalWeakTable<Accelerator, WideLaunchers> Cache = new();

    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<double>, int>> _norms;
    readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<double>, ArrayView<double>, int>> _dots;
    readonly Lazy<Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<float>, ArrayView<float>, int, int, double, double>> _legs;
    readonly Lazy<Action<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<double>, int, int, int, double, double>> _dist;

    WideLaunchers(Accelerator acc)
    {
        _norms = new(() => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, int>(WideKernels.SquaredNorms));
        _dots = new(() => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<double>, ArrayView<double>, int>(WideKernels.RowDots));
        _legs = new(() => acc.LoadAutoGroupedStreamKernel<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<float>, ArrayView<float>, int, int, double, double>(WideKernels.Legs));
        _dist = new(() => acc.LoadAutoGroupedStreamKernel<Index2D, ArrayView<float>, ArrayView<float>, ArrayView<double>, ArrayView<double>, int, int, int, double, double>(WideKernels.DistanceForward));
    }

    /// <summary>The launchers of <paramref name="device"/>'s accelerator.</summary>
    public static WideLaunchers For(IlgpuDevice device) => Cache.GetValue(device.Accelerator, a => new WideLaunchers(a));

    static void Need(long have, long need, string what)
    {
        if (have < need) throw new ArgumentException($"{what}: view holds {have} elements, {need} needed.", what);
    }

    /// <summary>norms [rows] = Σ x² in double of x [rows, d].</summary>
    public void SquaredNorms(ArrayView<float> x, ArrayView<double> norms, int rows, int d)
    {
        Need(x.Length, (long)rows * d, nameof(x));
        Need(norms.Length, rows, nameof(norms));
        if (rows > 0) _norms.Value(rows, x, norms, d);
    }

    /// <summary>dots [rows] = x v in double, x [rows, d] float32, v [d] double.</summary>
    public void RowDots(ArrayView<float> x, ArrayView<double> v, ArrayView<double> dots, int rows, int d)
    {
        Need(x.Length, (long)rows * d, nameof(x));
        Need(v.Length, d, nameof(v));
        Need(dots.Length, rows, nameof(dots));
        if (rows > 0) _dots.Value(rows, x, v, dots, d);
    }

    /// <summary>Leg tables inv, ginv [n, n] (float) with double leg lengths.</summary>
    public void Legs(ArrayView<float> g, ArrayView<float> x, ArrayView<double> norms, ArrayView<float> inv, ArrayView<float> ginv, int n, int d, double tiny)
    {
        Need(g.Length, (long)n * n, nameof(g));
        Need(x.Length, (long)n * d, nameof(x));
        Need(norms.Length, n, nameof(norms));
        Need(inv.Length, (long)n * n, nameof(inv));
        Need(ginv.Length, (long)n * n, nameof(ginv));
        if (n > 0) _legs.Value(new Index2D(n, n), g, x, norms, inv, ginv, n, d, tiny, Cpu.CpuPairDistance.Tau<float>());
    }

    /// <summary>Double pdist [n, n] from the float32 Gram g [n, n], the centred rows x [n, d] and their double squared norms.</summary>
    public void DistanceForward(ArrayView<float> g, ArrayView<float> x, ArrayView<double> norms, ArrayView<double> dist, int n, int d, bool squared, double clamp)
    {
        Need(g.Length, (long)n * n, nameof(g));
        Need(x.Length, (long)n * d, nameof(x));
        Need(norms.Length, n, nameof(norms));
        Need(dist.Length, (long)n * n, nameof(dist));
        if (n > 0) _dist.Value(new Index2D(n, n), g, x, norms, dist, n, d, squared ? 1 : 0, clamp, Cpu.CpuPairDistance.Tau<float>());
    }
}
