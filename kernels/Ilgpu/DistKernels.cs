using GpuKd.Kernels.Maths;
using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// DIST (Huang et al., NeurIPS 2022; torchdistill's <c>DISTLoss</c>): y = softmax(z / tau) per side ([b, K]), the row
/// Pearson correlations ρ_i of y_s[i, :] and y_t[i, :], the column ones σ_k of y_s[:, k] and y_t[:, k] (each as
/// torch 2.x's cosine_similarity of the centred vectors: Σ c_s c_t / (max(‖c_s‖, eps)·max(‖c_t‖, eps))),
/// L = rowScale·Σ(1 − ρ) + colScale·Σ(1 − σ). Statistics tables [5, n] (n = b rows or K columns): mean_s, mean_t,
/// ‖c_s‖, ‖c_t‖ (unclamped), and 1 − corr = ½‖ĉ_s − ĉ_t‖² (ĉ = c/‖c‖: one more pass, no cancellation near corr = 1), or
/// 1 − Σ c_s c_t/(max(‖c_s‖, eps)·max(‖c_t‖, eps)) where a norm is ≤ eps. Row kernels: one group of W threads per row, fixed lane trees; column kernel:
/// one thread per column over the rows in order, compensated — deterministic, no atomics. CPU twin: <c>CpuDist</c>.
/// </summary>
public static class DistKernels
{
    static T GroupMax<T>(ArrayView<T> lanes, T value) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int l = Group.IdxX;
        lanes[l] = value;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s /= 2)
        {
            if (l < s) lanes[l] = KernelMath.MaxNaN(lanes[l], lanes[l + s]);
            Group.Barrier();
        }
        T m = lanes[0];
        Group.Barrier();
        return m;
    }

    /// <summary>
    /// e^x for x ≤ 0 within a few ulp at any x (<see cref="KernelMath.Exp{T}"/>'s error grows with |x|: ~16 ulp at x = −15,
    /// which a softmax near the teacher's turns into 1e-4 relative gradient error in float32): x = −n·ln 2 + r with n counted,
    /// r = (x + n·ln2Hi) + n·ln2Lo (Cody–Waite: ln2Hi has few bits, so n·ln2Hi and the first sum are exact), e^r by its
    /// Taylor series (|r| ≤ ln 2 / 2: 18 terms, below 1e-20 relative; n = 0 for x ≥ −ln 2 / 2, so e^x is exactly 1 where it
    /// rounds to 1 — a constant row stays exactly constant), then n exact halvings. x below −1100·ln 2 (and −∞)
    /// gives 0; NaN stays NaN.
    /// </summary>
    static T ExpNonPositive<T>(T x, T log2e, T ln2Hi, T ln2Lo) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T t = x * log2e, half = T.One / (T.One + T.One);
        int n = 0;
        T nt = T.Zero;
        while (t + nt < -half && n < 1100) { n++; nt += T.One; }   // r ∈ [−ln2/2, ln2/2): e^x = 1 exactly where it rounds to 1
        if (n >= 1100) return T.Zero;
        T r = (x + nt * ln2Hi) + nt * ln2Lo;
        T term = T.One, sum = T.One, p = T.One;
        for (int i = 0; i < 18; i++) { term = term * r / p; sum += term; p += T.One; }
        for (int i = 0; i < n; i++) sum *= half;
        return sum;
    }

    /// <summary>y[o..o+k) = softmax(z[o..o+k) / tau), max subtracted; each lane rewrites only the entries it wrote.
    /// c = (log2e, ln2Hi, ln2Lo) for <see cref="ExpNonPositive{T}"/>.</summary>
    static void SoftmaxRow<T>(ArrayView<T> z, ArrayView<T> y, long o, int k, T tau, ArrayView<T> lanes, T log2e, T ln2Hi, T ln2Lo)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T m = T.NegativeInfinity;
        for (int j = Group.IdxX; j < k; j += Group.DimX) m = KernelMath.MaxNaN(m, z[o + j] / tau);
        m = GroupMax(lanes, m);
        T s = T.Zero;
        for (int j = Group.IdxX; j < k; j += Group.DimX)
        {
            T e = ExpNonPositive(z[o + j] / tau - m, log2e, ln2Hi, ln2Lo);
            y[o + j] = e;
            s += e;
        }
        T inv = T.One / GroupReduce.Sum(lanes, s);
        for (int j = Group.IdxX; j < k; j += Group.DimX) y[o + j] *= inv;
    }

    /// <summary>Forward, one group per row i of [rows, k]: ys, yt = softmax(z / tau), then the row statistics. log2e, ln2Hi,
    /// ln2Lo: the exp's constants for T (passed in: kernels cannot convert double constants to T).</summary>
    public static void Rows<T>(ArrayView<T> zs, ArrayView<T> zt, ArrayView<T> ys, ArrayView<T> yt, ArrayView<T> stats, int rows, int k, T tau, T invK, T eps,
        T log2e, T ln2Hi, T ln2Lo)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = Grid.IdxX;
        long o = (long)i * k;
        var lanes = SharedMemory.GetDynamic<T>();
        SoftmaxRow(zs, ys, o, k, tau, lanes, log2e, ln2Hi, ln2Lo);
        SoftmaxRow(zt, yt, o, k, tau, lanes, log2e, ln2Hi, ln2Lo);
        T a = T.Zero, c = T.Zero;
        for (int j = Group.IdxX; j < k; j += Group.DimX) { a += ys[o + j]; c += yt[o + j]; }
        T ms = GroupReduce.Sum(lanes, a) * invK, mt = GroupReduce.Sum(lanes, c) * invK;
        T ss = T.Zero, tt = T.Zero, st = T.Zero;
        for (int j = Group.IdxX; j < k; j += Group.DimX)
        {
            T x = ys[o + j] - ms, y = yt[o + j] - mt;
            ss += x * x; tt += y * y; st += x * y;
        }
        T ns = T.Sqrt(GroupReduce.Sum(lanes, ss)), nt = T.Sqrt(GroupReduce.Sum(lanes, tt));
        st = GroupReduce.Sum(lanes, st);
        bool fine = Fine(ns, nt, eps);
        T ia = fine ? T.One / ns : T.Zero, ib = fine ? T.One / nt : T.Zero, dd = T.Zero;
        for (int j = Group.IdxX; j < k; j += Group.DimX)
        {
            T u = (ys[o + j] - ms) * ia - (yt[o + j] - mt) * ib;
            dd += u * u;
        }
        dd = GroupReduce.Sum(lanes, dd);
        if (Group.IdxX == 0)
        {
            stats[i] = ms;
            stats[rows + i] = mt;
            stats[2 * rows + i] = ns;
            stats[3 * rows + i] = nt;
            stats[4 * rows + i] = OneMinus(ns, nt, st, dd, eps);
        }
    }

    static bool Fine<T>(T ns, T nt, T eps) where T : unmanaged, IFloatingPointIeee754<T> => ns > eps && nt > eps;

    /// <summary>1 − corr: ½·dd (dd = ‖ĉ_s − ĉ_t‖²) where both norms exceed eps, else 1 − st/(max(ns, eps)·max(nt, eps)).</summary>
    static T OneMinus<T>(T ns, T nt, T st, T dd, T eps) where T : unmanaged, IFloatingPointIeee754<T>
        => Fine(ns, nt, eps) ? dd / (T.One + T.One) : T.One - st / (KernelMath.AtLeast(ns, eps) * KernelMath.AtLeast(nt, eps));

    /// <summary>Neumaier's compensated step: (sum, compensation) + v (a value tuple: no by-reference state in kernels).</summary>
    static (T S, T C) Add<T>((T S, T C) a, T v) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T t = a.S + v;
        return (t, a.C + (T.Abs(a.S) >= T.Abs(v) ? (a.S - t) + v : (v - t) + a.S));
    }

    /// <summary>Forward, one thread per column c of [rows, k]: the column statistics, each sum over the rows in ascending
    /// order and compensated (Neumaier); the means first, then the centred sums, then ‖ĉ_s − ĉ_t‖².</summary>
    public static void Columns<T>(Index1D index, ArrayView<T> ys, ArrayView<T> yt, ArrayView<T> stats, int rows, int k, T invRows, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int c = index;
        (T S, T C) a = (T.Zero, T.Zero), b = a;
        for (int r = 0; r < rows; r++) { long o = (long)r * k + c; a = Add(a, ys[o]); b = Add(b, yt[o]); }
        T ms = (a.S + a.C) * invRows, mt = (b.S + b.C) * invRows;
        (T S, T C) ss = (T.Zero, T.Zero), tt = ss, st = ss;
        for (int r = 0; r < rows; r++)
        {
            long o = (long)r * k + c;
            T x = ys[o] - ms, y = yt[o] - mt;
            ss = Add(ss, x * x); tt = Add(tt, y * y); st = Add(st, x * y);
        }
        T ns = T.Sqrt(ss.S + ss.C), nt = T.Sqrt(tt.S + tt.C);
        bool fine = Fine(ns, nt, eps);
        T ia = fine ? T.One / ns : T.Zero, ib = fine ? T.One / nt : T.Zero;
        (T S, T C) dd = (T.Zero, T.Zero);
        for (int r = 0; r < rows; r++)
        {
            long o = (long)r * k + c;
            T u = (ys[o] - ms) * ia - (yt[o] - mt) * ib;
            dd = Add(dd, u * u);
        }
        stats[c] = ms;
        stats[k + c] = mt;
        stats[2 * k + c] = ns;
        stats[3 * k + c] = nt;
        stats[4 * k + c] = OneMinus(ns, nt, st.S + st.C, dd.S + dd.C, eps);
    }

    static T OneMinusSum<T>(ArrayView<T> stats, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        (T S, T C) s = (T.Zero, T.Zero);
        for (int i = 0; i < n; i++) s = Add(s, stats[4 * n + i]);
        return s.S + s.C;
    }

    /// <summary>loss[0] = rowScale·Σ_i (1 − ρ_i) + colScale·Σ_k (1 − σ_k), one thread (extent 1), sums in order, compensated.</summary>
    public static void Loss<T>(Index1D index, ArrayView<T> rowStats, ArrayView<T> colStats, ArrayView<T> loss, int rows, int k, T rowScale, T colScale)
        where T : unmanaged, IFloatingPointIeee754<T>
        => loss[0] = rowScale * OneMinusSum(rowStats, rows) + colScale * OneMinusSum(colStats, k);

    /// <summary>weight·(1/(N_x N_o), corr/N_x²) of entry i — ∂corr/∂c_x = c_o/(N_x N_o) − corr·c_x/N_x² —, (0, 0) where
    /// either norm ≤ eps (no gradient through a degenerate correlation) or the vectors have ≤ 2 entries (corr ≡ ±1: derivative
    /// exactly 0); NaN norms give NaN.</summary>
    static (T Other, T Self) Coefficients<T>(ArrayView<T> stats, int n, int i, int teacher, T eps, T weight, int length)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T nx = stats[(teacher == 0 ? 2 : 3) * n + i], no = stats[(teacher == 0 ? 3 : 2) * n + i];
        if (nx <= eps || no <= eps || length <= 2) return (T.Zero, T.Zero);
        T inv = T.One / (nx * no);
        return (weight * inv, weight * (T.One - stats[4 * n + i]) / (nx * nx));
    }

    static T Grad<T>(ArrayView<T> colStats, int rows, int k, int j, int teacher, T eps, T colWeight, T xv, T ov, T ao, T ax, T mx, T mo)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (p, q) = Coefficients(colStats, k, j, teacher, eps, colWeight, rows);
        T mux = colStats[(teacher == 0 ? 0 : 1) * k + j], muo = colStats[(teacher == 0 ? 1 : 0) * k + j];
        return ao * (ov - mo) - ax * (xv - mx) + p * (ov - muo) - q * (xv - mux);
    }

    /// <summary>
    /// Backward of one side (teacher 0: the student, 1: the teacher), one group per row i: g_ik = ∂L/∂y_ik from the row and
    /// column correlations (rowWeight, colWeight = ∂L/∂ρ, ∂L/∂σ), then gz = y ∘ (g − Σ_k y g)·up[0]·invTau. yx: this side's
    /// softmax, yo: the other's.
    /// </summary>
    public static void Backward<T>(ArrayView<T> yx, ArrayView<T> yo, ArrayView<T> rowStats, ArrayView<T> colStats, ArrayView<T> up, ArrayView<T> gz,
        int rows, int k, int teacher, T eps, T rowWeight, T colWeight, T invTau)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = Grid.IdxX;
        long o = (long)i * k;
        var lanes = SharedMemory.GetDynamic<T>();
        var (ao, ax) = Coefficients(rowStats, rows, i, teacher, eps, rowWeight, k);
        T mx = rowStats[(teacher == 0 ? 0 : 1) * rows + i], mo = rowStats[(teacher == 0 ? 1 : 0) * rows + i];
        T dot = T.Zero;
        for (int j = Group.IdxX; j < k; j += Group.DimX)
        {
            T xv = yx[o + j];
            dot += xv * Grad(colStats, rows, k, j, teacher, eps, colWeight, xv, yo[o + j], ao, ax, mx, mo);
        }
        dot = GroupReduce.Sum(lanes, dot);
        T scale = up[0] * invTau;
        for (int j = Group.IdxX; j < k; j += Group.DimX)
        {
            T xv = yx[o + j];
            gz[o + j] = xv * (Grad(colStats, rows, k, j, teacher, eps, colWeight, xv, yo[o + j], ao, ax, mx, mo) - dot) * scale;
        }
    }
}
