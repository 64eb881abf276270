using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>
/// The widened Gram of float32 rows as fused passes (the CPU fast path of <c>OpBase.WidenedGram</c> and of CC's float32
/// forward and backward; the device twin is <c>Programs.Widened</c>). X = Xc + 1μᵀ, G = XXᵀ = C + m1ᵀ + 1mᵀ + |μ|² with
/// C = XcXcᵀ the float32 GEMM (libtorch, between the passes), m = Xcμ, the squared norms and m summed in double.
/// Instead of a dozen libtorch passes over b² doubles (widen, diagonal, three broadcast adds, a b×b mask, two scalings)
/// each step is one pass: <see cref="ColumnMeans"/> and <see cref="CentreRows"/> over the rows (O(bD)), then
/// <see cref="Assemble"/> over C (O(b²), writing the double result once). Every loop has one owner per output row and a
/// fixed order inside it: deterministic whatever the thread count.
/// </summary>
internal static unsafe class CpuWideGram
{
    /// <summary>mean[k] = (Σ_r x_rk)/rows, summed in double in row order and rounded once; x [rows, d] float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ColumnMeans(float* x, float* mean, int rows, int d)
    {
        var sums = new double[d];
        fixed (double* s = sums)
        {
            int w = Vector<float>.Count, hw = Vector<double>.Count;
            for (int r = 0; r < rows; r++)
            {
                float* row = x + (long)r * d;
                int k = 0;
                for (; k <= d - w; k += w)
                {
                    Vector.Widen(Vector.Load(row + k), out var lo, out var hi);
                    (Vector.Load(s + k) + lo).Store(s + k);
                    (Vector.Load(s + k + hw) + hi).Store(s + k + hw);
                }
                for (; k < d; k++) s[k] += row[k];
            }
            for (int k = 0; k < d; k++) mean[k] = (float)(s[k] / rows);
        }
    }

    /// <summary>(|μ|², mean_r ‖x_r‖²) of x [rows, d] float32, summed in double in a fixed order, one pass (no double copy of
    /// x): the offset test of <c>OpBase.NeedsWidening</c>. NaN/Inf give non-finite results.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (double Mu2, double MeanSq) OffsetStats(float* x, int rows, int d)
    {
        var sums = new double[d];
        fixed (double* s = sums)
        {
            int w = Vector<float>.Count, hw = Vector<double>.Count;
            var sqLo = Vector<double>.Zero;
            var sqHi = Vector<double>.Zero;
            double sqTail = 0;
            for (int r = 0; r < rows; r++)
            {
                float* row = x + (long)r * d;
                int k = 0;
                for (; k <= d - w; k += w)
                {
                    Vector.Widen(Vector.Load(row + k), out var lo, out var hi);
                    (Vector.Load(s + k) + lo).Store(s + k);
                    (Vector.Load(s + k + hw) + hi).Store(s + k + hw);
                    sqLo += lo * lo;
                    sqHi += hi * hi;
                }
                for (; k < d; k++) { double v = row[k]; s[k] += v; sqTail += v * v; }
            }
            double mu2 = 0;
            for (int k = 0; k < d; k++) { double mu = s[k] / rows; mu2 += mu * mu; }
            return (mu2, (Vector.Sum(sqLo + sqHi) + sqTail) / rows);
        }
    }

    /// <summary>Per row r of x [rows, d] (float32): xc_r = x_r − μ (float32, as libtorch's x − mean; exact wherever x and μ
    /// are within a factor 2), sq[r] = Σ_k xc_rk² and m[r] = Σ_k xc_rk μ_k in double (a fixed order), and keep[r] = 0 for an
    /// exactly zero row of x (its row and column of XXᵀ are exact zeros), else 1 (a NaN row is not zero).</summary>
    public static void CentreRows(float* x, float* mean, float* xc, double* sq, double* m, double* keep, int rows, int d)
    {
        CpuParallel.For(rows, 4L * d, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            float* row = x + (long)r * d, crow = xc + (long)r * d;
            int w = Vector<float>.Count, k = 0;
            var sqLo = Vector<double>.Zero;
            var sqHi = Vector<double>.Zero;
            var mLo = Vector<double>.Zero;
            var mHi = Vector<double>.Zero;
            var nonzero = Vector<int>.Zero;
            for (; k <= d - w; k += w)
            {
                var v = Vector.Load(row + k);
                var mu = Vector.Load(mean + k);
                nonzero |= ~Vector.Equals(v, Vector<float>.Zero);
                var c = v - mu;
                c.Store(crow + k);
                Vector.Widen(c, out var c0, out var c1);
                Vector.Widen(mu, out var mu0, out var mu1);
                sqLo += c0 * c0;
                sqHi += c1 * c1;
                mLo += c0 * mu0;
                mHi += c1 * mu1;
            }
            double s = Vector.Sum(sqLo + sqHi), dot = Vector.Sum(mLo + mHi);
            bool any = nonzero != Vector<int>.Zero;
            for (; k < d; k++)
            {
                float c = row[k] - mean[k];
                crow[k] = c;
                s += (double)c * c;
                dot += (double)c * mean[k];
                any |= row[k] != 0;
            }
            sq[r] = s;
            m[r] = dot;
            keep[r] = any ? 1 : 0;
        });
    }

    /// <summary>
    /// diag[i] = G_ii = ((sq_i + m_i) + m_i) + |μ|² (0 for a zero row), and, when <paramref name="normalise"/>, norms[i] =
    /// √G_ii and s[i] = 1/max(norms_i, eps) (NaN kept); else s[i] = 1. O(b).
    /// </summary>
    public static void Diagonal(double* sq, double* m, double* keep, double mu2, double* diag, double* norms, double* s, int n, bool normalise, double eps)
    {
        for (int i = 0; i < n; i++)
        {
            double g = keep[i] != 0 ? sq[i] + m[i] + m[i] + mu2 : 0;
            diag[i] = g;
            if (!normalise) { s[i] = 1; continue; }
            double norm = Math.Sqrt(g);
            norms[i] = norm;
            s[i] = 1 / Math.Max(norm, eps);   // Math.Max keeps a NaN
        }
    }

    /// <summary>
    /// out_ij = (C_ij + (m_i + m_j) + |μ|²)(s_i s_j) for i ≠ j and diag_i (s_i s_i) on the diagonal, in double, 0 where row i
    /// or j is an exactly zero row (keep = 0; the reconstruction would leave rounding noise there). C [n, n] float32 must be
    /// bit-symmetric (<see cref="CpuRows.MirrorUpper{T}"/>): every factor is then symmetric in (i, j), so out is
    /// bit-symmetric too. s = 1 gives the widened Gram G itself, s = 1/max(√G_ii, eps) the cosines A of CC. One pass.
    /// </summary>
    public static void Assemble(float* c, double* m, double* keep, double* diag, double* s, double mu2, double* outp, int n)
    {
        CpuParallel.For(n, 6L * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            float* ci = c + (long)i * n;
            double* oi = outp + (long)i * n;
            double mi = m[i], si = s[i];
            bool keepI = keep[i] != 0;
            int w = Vector<float>.Count, hw = Vector<double>.Count, j = 0;
            if (keepI)
            {
                var vmi = new Vector<double>(mi);
                var vsi = new Vector<double>(si);
                var vmu2 = new Vector<double>(mu2);
                for (; j <= n - w; j += w)
                {
                    Vector.Widen(Vector.Load(ci + j), out var c0, out var c1);
                    var v0 = (c0 + (vmi + Vector.Load(m + j)) + vmu2) * (vsi * Vector.Load(s + j));
                    var v1 = (c1 + (vmi + Vector.Load(m + j + hw)) + vmu2) * (vsi * Vector.Load(s + j + hw));
                    Vector.ConditionalSelect(Vector.Equals(Vector.Load(keep + j), Vector<double>.Zero), Vector<double>.Zero, v0).Store(oi + j);
                    Vector.ConditionalSelect(Vector.Equals(Vector.Load(keep + j + hw), Vector<double>.Zero), Vector<double>.Zero, v1).Store(oi + j + hw);
                }
            }
            for (; j < n; j++)
                oi[j] = keepI && keep[j] != 0 ? (ci[j] + (mi + m[j]) + mu2) * (si * s[j]) : 0;
            oi[i] = diag[i] * (si * si);
        });
    }

    /// <summary>
    /// x̄ rows of the widened backward from P = hXc [rows, d] (the float32 product of Ḡ's symmetric half, rounded once):
    /// g_k = 2P_ik + r_i μ_k in double (r the row sums of Ḡ + Ḡᵀ; X = Xc + 1μᵀ), and, when <paramref name="tangent"/>,
    /// the radial part dropped where n_i &gt; eps (x = xc + μ: out = g − x (x·g)/n_i², the rule of <c>WideKernels.TangentOnly</c>, see <c>CcLoss.WideBackward</c>);
    /// rounded once to float32. O(bD), two passes over a row when tangent.
    /// </summary>
    public static void GradRows(float* p, float* xc, float* mean, double* rowSums, double* norms, float* outp, int rows, int d, bool tangent, double eps)
    {
        CpuParallel.For(rows, 8L * d, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (r) =>
        {
            float* prow = p + (long)r * d, crow = xc + (long)r * d, orow = outp + (long)r * d;
            double ri = rowSums[r], ni = norms[r];
            double coef = 0;
            int w = Vector<float>.Count, k;
            var two = new Vector<double>(2.0);
            var vr = new Vector<double>(ri);
            if (tangent && ni > eps)
            {
                var acc = Vector<double>.Zero;
                for (k = 0; k <= d - w; k += w)
                {
                    Vector.Widen(Vector.Load(prow + k), out var p0, out var p1);
                    Vector.Widen(Vector.Load(crow + k), out var c0, out var c1);
                    Vector.Widen(Vector.Load(mean + k), out var m0, out var m1);
                    acc += (c0 + m0) * (two * p0 + vr * m0) + (c1 + m1) * (two * p1 + vr * m1);
                }
                double dot = Vector.Sum(acc);
                for (; k < d; k++) dot += ((double)crow[k] + mean[k]) * (2.0 * prow[k] + ri * mean[k]);
                coef = dot / (ni * ni);
            }
            var vcoef = new Vector<double>(coef);
            for (k = 0; k <= d - w; k += w)
            {
                Vector.Widen(Vector.Load(prow + k), out var p0, out var p1);
                Vector.Widen(Vector.Load(crow + k), out var c0, out var c1);
                Vector.Widen(Vector.Load(mean + k), out var m0, out var m1);
                var g0 = two * p0 + vr * m0 - (c0 + m0) * vcoef;
                var g1 = two * p1 + vr * m1 - (c1 + m1) * vcoef;
                Vector.Narrow(g0, g1).Store(orow + k);
            }
            for (; k < d; k++) orow[k] = (float)(2.0 * prow[k] + ri * mean[k] - ((double)crow[k] + mean[k]) * coef);
        });
    }
}
