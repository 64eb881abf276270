using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>
/// DIST (Huang et al., NeurIPS 2022; torchdistill's <c>DISTLoss</c>) on CPU rows, the twin of
/// <see cref="Ilgpu.DistKernels"/>: softmax of both sides and the row statistics in one pass per row (the row is in L1),
/// the column statistics by a deterministic column-block reduction (each column summed over the rows in ascending order,
/// whatever the thread count), and an elementwise backward through the softmax Jacobian. Every sum is accumulated in
/// double (float32 rows are widened lane-wise). Statistics layout, double [5, n] for the n rows or columns:
/// <see cref="MeanS"/>, <see cref="MeanT"/>, <see cref="NormS"/>, <see cref="NormT"/> (‖x − mean‖, unclamped) and
/// <see cref="OneMinus"/>, 1 − the correlation: ½‖ĉ_s − ĉ_t‖² (ĉ = c/‖c‖, one more pass: no cancellation when the
/// student's correlations approach 1), or 1 − Σc_s c_t/(max(‖c_s‖, eps)·max(‖c_t‖, eps)) where a norm is ≤ eps.
/// </summary>
internal static unsafe class CpuDist
{
    public const int MeanS = 0, MeanT = 1, NormS = 2, NormT = 3, OneMinus = 4, StatCount = 5;

    /// <summary>Columns per block of the column reduction (a multiple of every vector width).</summary>
    const int Block = 64;

    static bool Wide<T>() => typeof(T) == typeof(float);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Load<T>(T* p, out Vector<double> lo, out Vector<double> hi) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Vector.Widen(Unsafe.Read<Vector<float>>(p), out lo, out hi);
        else { lo = Unsafe.Read<Vector<double>>(p); hi = default; }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store<T>(T* p, Vector<double> lo, Vector<double> hi) where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Unsafe.Write(p, Vector.Narrow(lo, hi));
        else Unsafe.Write(p, lo);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector<T> Exp<T>(Vector<T> x) where T : unmanaged
        => typeof(T) == typeof(float)
            ? Vector.As<float, T>(CpuSkdPixelwise.ExpNonPositive(Vector.As<T, float>(x)))
            : Vector.As<double, T>(CpuSkdPixelwise.ExpNonPositive(Vector.As<T, double>(x)));

    static double D<T>(T x) where T : unmanaged, IFloatingPointIeee754<T> => double.CreateTruncating(x);

    /// <summary>y = softmax(z / tau) over one row of k (max subtracted, as libtorch); returns nothing, y written.</summary>
    static void SoftmaxRow<T>(T* z, T* y, int k, T tau) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, j = 0;
        var vt = new Vector<T>(tau);
        var vm = new Vector<T>(T.NegativeInfinity);
        for (; j <= k - w; j += w) vm = Vector.Max(vm, Unsafe.Read<Vector<T>>(z + j) / vt);
        T m = T.NegativeInfinity;
        for (int l = 0; l < w; l++) m = T.Max(m, vm[l]);   // NaN elements: their exp is NaN below, whatever m is
        for (; j < k; j++) m = T.Max(m, z[j] / tau);
        var vmm = new Vector<T>(m);
        var acc = Vector<double>.Zero;
        double s = 0;
        for (j = 0; j <= k - w; j += w)
        {
            var e = Exp(Unsafe.Read<Vector<T>>(z + j) / vt - vmm);
            Unsafe.Write(y + j, e);
            Load(y + j, out var lo, out var hi);
            acc += lo;
            if (Wide<T>()) acc += hi;
        }
        s = Vector.Sum(acc);
        for (; j < k; j++) { T e = T.CreateTruncating(Math.Exp(D(z[j] / tau - m))); y[j] = e; s += D(e); }
        var inv = new Vector<T>(T.CreateTruncating(1.0 / s));
        T invS = T.CreateTruncating(1.0 / s);
        for (j = 0; j <= k - w; j += w) Unsafe.Write(y + j, Unsafe.Read<Vector<T>>(y + j) * inv);
        for (; j < k; j++) y[j] *= invS;
    }

    static double Sum<T>(T* x, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, j = 0;
        var acc = Vector<double>.Zero;
        for (; j <= n - w; j += w)
        {
            Load(x + j, out var lo, out var hi);
            acc += lo;
            if (Wide<T>()) acc += hi;
        }
        double s = Vector.Sum(acc);
        for (; j < n; j++) s += D(x[j]);
        return s;
    }

    /// <summary>(Σ(a − ma)², Σ(b − mb)², Σ(a − ma)(b − mb)) over n, in double.</summary>
    static (double Aa, double Bb, double Ab) Centred<T>(T* a, T* b, double ma, double mb, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, j = 0;
        Vector<double> vma = new(ma), vmb = new(mb), aa = default, bb = default, ab = default;
        for (; j <= n - w; j += w)
        {
            Load(a + j, out var alo, out var ahi);
            Load(b + j, out var blo, out var bhi);
            alo -= vma; blo -= vmb;
            aa += alo * alo; bb += blo * blo; ab += alo * blo;
            if (Wide<T>())
            {
                ahi -= vma; bhi -= vmb;
                aa += ahi * ahi; bb += bhi * bhi; ab += ahi * bhi;
            }
        }
        double sa = Vector.Sum(aa), sb = Vector.Sum(bb), sab = Vector.Sum(ab);
        for (; j < n; j++)
        {
            double x = D(a[j]) - ma, y = D(b[j]) - mb;
            sa += x * x; sb += y * y; sab += x * y;
        }
        return (sa, sb, sab);
    }

    /// <summary>½ Σ ((a − ma)·ia − (b − mb)·ib)² over n, in double.</summary>
    static double HalfDistance<T>(T* a, T* b, double ma, double mb, double ia, double ib, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = Vector<T>.Count, j = 0;
        Vector<double> vma = new(ma), vmb = new(mb), via = new(ia), vib = new(ib), acc = default;
        for (; j <= n - w; j += w)
        {
            Load(a + j, out var alo, out var ahi);
            Load(b + j, out var blo, out var bhi);
            var u = (alo - vma) * via - (blo - vmb) * vib;
            acc += u * u;
            if (Wide<T>())
            {
                u = (ahi - vma) * via - (bhi - vmb) * vib;
                acc += u * u;
            }
        }
        double s = Vector.Sum(acc);
        for (; j < n; j++) { double u = (D(a[j]) - ma) * ia - (D(b[j]) - mb) * ib; s += u * u; }
        return s / 2;
    }

    /// <summary>1 − corr from the centred sums: <paramref name="half"/> = ½‖ĉ_s − ĉ_t‖² where both norms exceed eps, else
    /// 1 − Σc_s c_t/(max(n_s, eps)·max(n_t, eps)) (torch's clamp). NaN norms give NaN.</summary>
    static double OneMinusCorrelation(double ns, double nt, double st, double eps, double half)
        => Fine(ns, nt, eps) ? half : 1 - st / (Clamp(ns, eps) * Clamp(nt, eps));

    static bool Fine(double ns, double nt, double eps) => ns > eps && nt > eps;

    /// <summary>Forward, rows: ys, yt = softmax(z / tau) ([rows, k] each) and the row statistics into stats [5, rows].</summary>
    public static void Rows<T>(T* zs, T* zt, T* ys, T* yt, double* stats, int rows, int k, T tau, double eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(rows, 40L * k, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * k;
            SoftmaxRow(zs + o, ys + o, k, tau);
            SoftmaxRow(zt + o, yt + o, k, tau);
            double ms = Sum(ys + o, k) / k, mt = Sum(yt + o, k) / k;
            var (ss, tt, st) = Centred(ys + o, yt + o, ms, mt, k);
            double ns = Math.Sqrt(ss), nt = Math.Sqrt(tt);
            stats[MeanS * rows + i] = ms;
            stats[MeanT * rows + i] = mt;
            stats[NormS * rows + i] = ns;
            stats[NormT * rows + i] = nt;
            stats[OneMinus * rows + i] = OneMinusCorrelation(ns, nt, st, eps,
                Fine(ns, nt, eps) ? HalfDistance(ys + o, yt + o, ms, mt, 1 / ns, 1 / nt, k) : 0);
        });
    }

    /// <summary>Forward, columns: the statistics of the k columns of ys, yt ([rows, k]) into stats [5, k]. Blocks of
    /// <see cref="Block"/> columns run in parallel; inside a block each column is summed over the rows in ascending order
    /// (the means first, then the centred sums, then ½‖ĉ_s − ĉ_t‖²: three passes, no cancellation).</summary>
    public static void Columns<T>(T* ys, T* yt, double* stats, int rows, int k, double eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int blocks = (k + Block - 1) / Block;
        CpuParallel.For(blocks, 10L * rows * Block, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (c) =>
        {
            int k0 = c * Block, n = Math.Min(Block, k - k0);
            double* a = stackalloc double[8 * Block];
            new Span<double>(a, 8 * Block).Clear();
            double* ms = a, mt = a + Block, ss = a + 2 * Block, tt = a + 3 * Block, st = a + 4 * Block;
            double* ia = a + 5 * Block, ib = a + 6 * Block, dd = a + 7 * Block;
            int w = Vector<T>.Count, dw = Vector<double>.Count;
            for (int i = 0; i < rows; i++)
            {
                T* ps = ys + (long)i * k + k0, pt = yt + (long)i * k + k0;
                int j = 0;
                for (; j <= n - w; j += w)
                {
                    Load(ps + j, out var slo, out var shi);
                    Load(pt + j, out var tlo, out var thi);
                    Unsafe.Write(ms + j, Unsafe.Read<Vector<double>>(ms + j) + slo);
                    Unsafe.Write(mt + j, Unsafe.Read<Vector<double>>(mt + j) + tlo);
                    if (Wide<T>())
                    {
                        Unsafe.Write(ms + j + dw, Unsafe.Read<Vector<double>>(ms + j + dw) + shi);
                        Unsafe.Write(mt + j + dw, Unsafe.Read<Vector<double>>(mt + j + dw) + thi);
                    }
                }
                for (; j < n; j++) { ms[j] += D(ps[j]); mt[j] += D(pt[j]); }
            }
            for (int j = 0; j < n; j++) { ms[j] /= rows; mt[j] /= rows; }
            for (int i = 0; i < rows; i++)
            {
                T* ps = ys + (long)i * k + k0, pt = yt + (long)i * k + k0;
                int j = 0;
                for (; j <= n - w; j += w)
                {
                    Load(ps + j, out var slo, out var shi);
                    Load(pt + j, out var tlo, out var thi);
                    Accumulate(j, slo, tlo);
                    if (Wide<T>()) Accumulate(j + dw, shi, thi);
                }
                for (; j < n; j++)
                {
                    double x = D(ps[j]) - ms[j], y = D(pt[j]) - mt[j];
                    ss[j] += x * x; tt[j] += y * y; st[j] += x * y;
                }
            }
            for (int j = 0; j < n; j++)
            {
                ss[j] = Math.Sqrt(ss[j]);
                tt[j] = Math.Sqrt(tt[j]);
                bool fine = Fine(ss[j], tt[j], eps);
                ia[j] = fine ? 1 / ss[j] : 0;
                ib[j] = fine ? 1 / tt[j] : 0;
            }
            for (int i = 0; i < rows; i++)
            {
                T* ps = ys + (long)i * k + k0, pt = yt + (long)i * k + k0;
                int j = 0;
                for (; j <= n - w; j += w)
                {
                    Load(ps + j, out var slo, out var shi);
                    Load(pt + j, out var tlo, out var thi);
                    Distance(j, slo, tlo);
                    if (Wide<T>()) Distance(j + dw, shi, thi);
                }
                for (; j < n; j++)
                {
                    double u = (D(ps[j]) - ms[j]) * ia[j] - (D(pt[j]) - mt[j]) * ib[j];
                    dd[j] += u * u;
                }
            }
            for (int j = 0; j < n; j++)
            {
                stats[MeanS * k + k0 + j] = ms[j];
                stats[MeanT * k + k0 + j] = mt[j];
                stats[NormS * k + k0 + j] = ss[j];
                stats[NormT * k + k0 + j] = tt[j];
                stats[OneMinus * k + k0 + j] = OneMinusCorrelation(ss[j], tt[j], st[j], eps, dd[j] / 2);
            }

            void Distance(int j, Vector<double> s, Vector<double> t)
            {
                var u = (s - Unsafe.Read<Vector<double>>(ms + j)) * Unsafe.Read<Vector<double>>(ia + j)
                        - (t - Unsafe.Read<Vector<double>>(mt + j)) * Unsafe.Read<Vector<double>>(ib + j);
                Unsafe.Write(dd + j, Unsafe.Read<Vector<double>>(dd + j) + u * u);
            }

            void Accumulate(int j, Vector<double> s, Vector<double> t)
            {
                s -= Unsafe.Read<Vector<double>>(ms + j);
                t -= Unsafe.Read<Vector<double>>(mt + j);
                Unsafe.Write(ss + j, Unsafe.Read<Vector<double>>(ss + j) + s * s);
                Unsafe.Write(tt + j, Unsafe.Read<Vector<double>>(tt + j) + t * t);
                Unsafe.Write(st + j, Unsafe.Read<Vector<double>>(st + j) + s * t);
            }
        });
    }

    /// <summary>max(x, eps), NaN kept (Math.Max keeps it too; written out so the rule is visible).</summary>
    static double Clamp(double x, double eps) => double.IsNaN(x) ? x : Math.Max(x, eps);

    /// <summary>Σ_i (1 − corr_i) over the n entries of a statistics table, in index order.</summary>
    public static double OneMinusSum(double* stats, int n)
    {
        double s = 0;
        for (int i = 0; i < n; i++) s += stats[OneMinus * n + i];
        return s;
    }

    /// <summary>
    /// ∂corr/∂(centred self) = o/(N_x N_o) − corr·x/N_x², as the two coefficients (on the other side's and on this side's
    /// centred entries) times <paramref name="weight"/>; both 0 where either norm is ≤ eps (a degenerate correlation
    /// passes no gradient: the published one is ~1/eps-scaled there) and where the vectors have ≤ 2 entries
    /// (<paramref name="length"/>: two centred entries are ±d, so corr ≡ ±1 and its derivative is exactly 0; the published
    /// gradient there is rounding noise). NaN norms give NaN coefficients.
    /// </summary>
    static (double Other, double Self) Coefficients(double* stats, int n, int i, bool teacher, double eps, double weight, int length)
    {
        double nx = stats[(teacher ? NormT : NormS) * n + i], no = stats[(teacher ? NormS : NormT) * n + i];
        if (nx <= eps || no <= eps || length <= 2) return (0, 0);
        double corr = 1 - stats[OneMinus * n + i], inv = 1.0 / (nx * no);
        return (weight * inv, weight * corr / (nx * nx));
    }

    /// <summary>
    /// Backward for one side (the student, or the teacher with <paramref name="teacher"/>): with g = ∂L/∂y of that side,
    /// g_ik = rowWeight·(a_i·(o_ik − mo_i) − b_i·(x_ik − mx_i)) + colWeight·(P_k·(o_ik − μo_k) − Q_k·(x_ik − μx_k)) from the
    /// row and column correlations, the softmax Jacobian gives gz = y ∘ (g − Σ_k y g)·scale (scale = upstream / tau),
    /// written to <paramref name="gz"/> [rows, k]. yx: this side's softmax, yo: the other's.
    /// </summary>
    public static void Backward<T>(T* yx, T* yo, double* rowStats, double* colStats, T* gz, int rows, int k, bool teacher,
        double rowWeight, double colWeight, double eps, double scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var cols = new double[4 * k];
        fixed (double* c = cols)
        {
            double* muX = c, muO = c + k, pk = c + 2 * k, qk = c + 3 * k;
            for (int j = 0; j < k; j++)
            {
                muX[j] = colStats[(teacher ? MeanT : MeanS) * k + j];
                muO[j] = colStats[(teacher ? MeanS : MeanT) * k + j];
                (pk[j], qk[j]) = Coefficients(colStats, k, j, teacher, eps, colWeight, rows);
            }
            CpuParallel.For(rows, 30L * k, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
            {
                long o = (long)i * k;
                T* x = yx + o, y = yo + o, g = gz + o;
                double mx = rowStats[(teacher ? MeanT : MeanS) * rows + i], mo = rowStats[(teacher ? MeanS : MeanT) * rows + i];
                var (ao, ax) = Coefficients(rowStats, rows, i, teacher, eps, rowWeight, k);
                int w = Vector<T>.Count, dw = Vector<double>.Count;
                Vector<double> vao = new(ao), vax = new(ax), vmx = new(mx), vmo = new(mo);
                // ∂L/∂y at [j, j + dw): xv, ov this side's and the other side's probabilities.
                Vector<double> G(int j, Vector<double> xv, Vector<double> ov)
                    => vao * (ov - vmo) - vax * (xv - vmx)
                       + Unsafe.Read<Vector<double>>(pk + j) * (ov - Unsafe.Read<Vector<double>>(muO + j))
                       - Unsafe.Read<Vector<double>>(qk + j) * (xv - Unsafe.Read<Vector<double>>(muX + j));
                double Gs(int j, double xv, double ov) => ao * (ov - mo) - ax * (xv - mx) + pk[j] * (ov - muO[j]) - qk[j] * (xv - muX[j]);

                var acc = Vector<double>.Zero;
                int j = 0;
                for (; j <= k - w; j += w)
                {
                    Load(x + j, out var xlo, out var xhi);
                    Load(y + j, out var olo, out var ohi);
                    acc += xlo * G(j, xlo, olo);
                    if (Wide<T>()) acc += xhi * G(j + dw, xhi, ohi);
                }
                double dot = Vector.Sum(acc);
                for (; j < k; j++) { double xv = D(x[j]); dot += xv * Gs(j, xv, D(y[j])); }
                Vector<double> vdot = new(dot), vs = new(scale);
                for (j = 0; j <= k - w; j += w)
                {
                    Load(x + j, out var xlo, out var xhi);
                    Load(y + j, out var olo, out var ohi);
                    var lo = xlo * (G(j, xlo, olo) - vdot) * vs;
                    var hi = Wide<T>() ? xhi * (G(j + dw, xhi, ohi) - vdot) * vs : default;
                    Store(g + j, lo, hi);
                }
                for (; j < k; j++) { double xv = D(x[j]); g[j] = T.CreateTruncating(xv * (Gs(j, xv, D(y[j])) - dot) * scale); }
            });
        }
    }
}
