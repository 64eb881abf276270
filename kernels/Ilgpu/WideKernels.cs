using System.Runtime.CompilerServices;
using GpuKd.Kernels.Maths;
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

    /// <summary>One thread per (x, y) (index.X = y, index.Y = x), in place: the angle ops' float32 Gram → the pseudo-Gram of
    /// <see cref="AngleMath"/> (<see cref="Cpu.CpuWide.AngleGram"/>). Thread (x, y) with x &lt; y reads g[x, y] and writes
    /// g[x, y] and g[y, x]; x = y writes the diagonal; x &gt; y does nothing (no entry is read and written by two threads).</summary>
    public static void AngleGram(Index2D xy, ArrayView<float> g, ArrayView<double> norms, int n)
    {
        int x = xy.Y, y = xy.X;
        if (x == y) g[(long)x * n + x] = AngleMath.Diagonal(norms[x]);
        else if (x < y)
        {
            float v = AngleMath.ShiftedGram(g[(long)x * n + y], norms[x], norms[y]);
            g[(long)x * n + y] = v;
            g[(long)y * n + x] = v;
        }
    }

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
    public static void DistanceForward<TForm>(Index2D ij, ArrayView<float> g, ArrayView<float> x, ArrayView<double> norms, ArrayView<double> dist,
        int n, int d, double clamp, double tau)
        where TForm : struct, Maths.IDistanceForm<double>
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
        dist[o] = default(TForm).Output(q, clamp);   // clamped (NaN kept), √ for the Euclidean form
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

    /// <summary>
    /// The widened Gram's gate, decided on the device (one thread): with meanSq = Σ_r rowNorms2[r] / b, the rows share
    /// a large offset when |μ|² &gt; ratio·max(meanSq − |μ|², 0) (the CPU path's <c>OpBase.NeedsWidening</c>; a non-finite
    /// statistic fails it). Where it fails, |μ|² is set to 0 — so |μ|² &gt; 0 exactly when the gate is on, and
    /// <see cref="GateMean"/> reads it as the flag: an ungated batch takes the plain float32 Gram (centring rows of very
    /// different norms around a mean would round the small rows away). O(b).
    /// </summary>
    public static void OffsetGate(Index1D index, ArrayView<double> rowNorms2, ArrayView<double> mu2, int b, double ratio)
    {
        double meanSq = 0;
        for (int r = 0; r < b; r++) meanSq += rowNorms2[r];
        meanSq /= b;
        double m = mu2[0], spread = meanSq - m;
        bool use = m - m == 0 && meanSq - meanSq == 0 && m > ratio * (spread > 0 ? spread : 0);   // x − x = 0: finite
        mu2[0] = use ? m : 0;
    }

    /// <summary>One thread per column: mean[k] = 0 where the gate is off (|μ|² = 0 after <see cref="OffsetGate"/>),
    /// kept where it is on.</summary>
    public static void GateMean(Index1D index, ArrayView<float> mean, ArrayView<double> mu2)
    {
        if (mu2[0] == 0) mean[index] = 0f;
    }

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
    /// c the float32 Gram of the centred rows off the diagonal and their double squared norms on it. A row whose input is
    /// exactly zero (rowNorms2 = Σ x² of the input rows = 0) gets an exactly zero row and column, as XXᵀ has: the
    /// reconstruction would leave rounding noise there, which a row normalisation would blow up to O(1) (SP) or 1e16 (CC).</summary>
    public static void AssembleGram(Index2D ij, ArrayView<float> c, ArrayView<double> norms, ArrayView<double> dots, ArrayView<double> mu2,
        ArrayView<double> rowNorms2, ArrayView<double> g, int n)
    {
        int i = ij.Y, j = ij.X;
        long o = (long)i * n + j;
        if (rowNorms2[i] == 0 || rowNorms2[j] == 0) { g[o] = 0; return; }
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
    /// ḡ_ij = ā_ij s_i s_j (0 where norms_i or norms_j is 0: a zero row), and where norms_i &gt; eps ḡ_ii −= c_i/(2 norms_i²)
    /// with c_i = Σ_j (ā_ij + ā_ji) a_ij.</summary>
    public static void CosinesBackward(Index1D index, ArrayView<double> abar, ArrayView<double> a, ArrayView<double> norms, ArrayView<double> gbar, int n, double eps)
    {
        int i = index;
        long o = (long)i * n;
        double ni = norms[i], si = 1 / (ni < eps ? eps : ni), c = 0;
        for (int j = 0; j < n; j++)
        {
            double nj = norms[j];
            c += (abar[o + j] + abar[(long)j * n + i]) * a[o + j];
            // an exactly zero row (norm 0: its Gram row and column are exact zeros) passes no gradient through its normalisation
            gbar[o + j] = ni == 0 || nj == 0 ? 0 : abar[o + j] * si * (1 / (nj < eps ? eps : nj));
        }
        if (ni > eps) gbar[o + i] -= c / (2 * ni * ni);
    }

    /// <summary>One thread per row: x̄_i −= x_i (x_i·x̄_i)/norms_i² in double, rounded once, where norms_i &gt; eps, with
    /// x_i = xc_i + μ: the radial residue the widened backward of a unit-row loss leaves (its exact gradient is orthogonal
    /// to each row; see CcLoss.WideBackward and CpuWideGram.GradRows).</summary>
    public static void TangentOnly(Index1D index, ArrayView<float> xbar, ArrayView<float> xc, ArrayView<float> mean, ArrayView<double> norms, int d, double eps)
    {
        int r = index;
        double n = norms[r];
        if (!(n > eps)) return;
        long o = (long)r * d;
        double dot = 0;
        for (int k = 0; k < d; k++) dot += ((double)xc[o + k] + mean[k]) * xbar[o + k];
        double c = dot / (n * n);
        for (int k = 0; k < d; k++) xbar[o + k] = (float)(xbar[o + k] - ((double)xc[o + k] + mean[k]) * c);
    }
}
