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

    /// <summary>FSP's difference for float32 maps, one thread per entry (z, i, j) of d [B, ct, cb]: d = Σ_p topS[z, i, p]·
    /// botS[z, j, p]/ns − Σ_p topT[z, i, p]·botT[z, j, p]/nt, both sums in double (p ascending), rounded once — the FSP
    /// matrices nearly cancel when the student is near the teacher, and a float32 product's rounding would dominate.</summary>
    public static void FspDifference(Index1D e, ArrayView<float> botS, ArrayView<float> topS, ArrayView<float> botT, ArrayView<float> topT,
        ArrayView<float> d, int ct, int cb, int ns, int nt)
    {
        long k = e;
        int j = (int)(k % cb);
        long zi = k / cb;
        int i = (int)(zi % ct);
        long z = zi / ct;
        long ts = (z * ct + i) * ns, bs = (z * cb + j) * ns, tt = (z * ct + i) * nt, bt = (z * cb + j) * nt;
        double a = 0, b = 0;
        for (int p = 0; p < ns; p++) a += (double)topS[ts + p] * botS[bs + p];
        for (int p = 0; p < nt; p++) b += (double)topT[tt + p] * botT[bt + p];
        d[e] = (float)(a / ns - b / nt);
    }

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
