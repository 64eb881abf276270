using GpuKd.Kernels.Maths;
using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Structured-KD kernels, the ILGPU twins of <see cref="Cpu.CpuSkdPixelwise"/> and <see cref="Cpu.CpuSkdNodes"/>
/// (same formulas, same per-thread summation order; exp/log from <see cref="KernelMath"/>, within a few ulp of
/// Math's). One thread per pixel (column): no atomics; the per-pixel terms are summed by a fixed-order device
/// reduction (<see cref="Programs.Rows{T}.Total"/>). The inputs are read in their own element type T and widened in
/// registers (<see cref="IWiden{T}"/>): the pixel-wise KL is a small difference and the pair-wise Gram terms nearly
/// cancel, so both compute in float64 throughout, but no float64 copy of a float32 input is ever made. Modes are type
/// parameters (<see cref="CrossEntropy"/> / <see cref="TemperatureKl"/>), not flags; which gradients are written is
/// data (an empty view is not written).
/// </summary>
public static class SkdKernels
{
    /// <summary>The pixel-wise term and its teacher gradient, chosen by a type parameter.</summary>
    public interface IPixelTerm
    {
        /// <summary>Class c's share of the pixel term: p_T,c, log p_S,c, log p_T,c.</summary>
        double Term(double pt, double ls, double lt);

        /// <summary>∂/∂z_T,c of the pixel term times g = scale/T, given the pixel term l.</summary>
        double GradT(double g, double pt, double ls, double lt, double l);
    }

    /// <summary>Soft-target cross-entropy ℓ = −Σ_c p_T log p_S (the authors' pixel-wise loss).</summary>
    public readonly struct CrossEntropy : IPixelTerm
    {
        /// <inheritdoc/>
        public double Term(double pt, double ls, double lt) => -(pt * ls);

        /// <inheritdoc/>
        public double GradT(double g, double pt, double ls, double lt, double l) => -(g * pt * (ls + l));
    }

    /// <summary>ℓ = KL(p_T ‖ p_S) = Σ_c p_T (log p_T − log p_S).</summary>
    public readonly struct TemperatureKl : IPixelTerm
    {
        /// <inheritdoc/>
        public double Term(double pt, double ls, double lt) => pt * (lt - ls);

        /// <inheritdoc/>
        public double GradT(double g, double pt, double ls, double lt, double l) => g * pt * (lt - ls - l);
    }

    /// <summary>
    /// Pixel-wise loss over NCHW logits [B, K, P], one thread per pixel idx = n·P + q of the B·P pixels: with a = z_S/T,
    /// c = z_T/T (in double), terms[idx] = Σ_k <typeparamref name="TTerm"/>.Term, and where the view is not empty
    /// gs = scale·(p_S − p_T)/T, gt = <typeparamref name="TTerm"/>.GradT with g = scale/T (rounded once to T).
    /// </summary>
    public static void Pixelwise<T, TW, TTerm>(Index1D index, ArrayView<T> zs, ArrayView<T> zt, ArrayView<T> gs, ArrayView<T> gt,
        ArrayView<double> terms, int k, int p, double invT, double scale)
        where T : unmanaged
        where TW : struct, IWiden<T>
        where TTerm : struct, IPixelTerm
    {
        var w = default(TW);
        var term = default(TTerm);
        int idx = index;
        int n = idx / p, q = idx - n * p;
        long o = (long)n * k * p + q;
        double ms = double.NegativeInfinity, mt = double.NegativeInfinity;
        for (int c = 0; c < k; c++)
        {
            long e = o + (long)c * p;
            ms = KernelMath.MaxNaN(ms, w.Wide(zs[e]) * invT);   // not Math.Max: PTX max drops NaN
            mt = KernelMath.MaxNaN(mt, w.Wide(zt[e]) * invT);
        }
        double sumS = 0, sumT = 0;
        for (int c = 0; c < k; c++)
        {
            long e = o + (long)c * p;
            sumS += KernelMath.Exp(w.Wide(zs[e]) * invT - ms);
            sumT += KernelMath.Exp(w.Wide(zt[e]) * invT - mt);
        }
        double lseS = ms + KernelMath.Log(sumS), lseT = mt + KernelMath.Log(sumT);
        double l = 0;
        for (int c = 0; c < k; c++)
        {
            long e = o + (long)c * p;
            double ls = w.Wide(zs[e]) * invT - lseS, lt = w.Wide(zt[e]) * invT - lseT;
            l += term.Term(KernelMath.Exp(lt), ls, lt);
        }
        terms[idx] = l;
        bool wantS = gs.Length != 0, wantT = gt.Length != 0;
        if (!wantS && !wantT) return;
        double g = scale * invT;
        for (int c = 0; c < k; c++)
        {
            long e = o + (long)c * p;
            double ls = w.Wide(zs[e]) * invT - lseS, lt = w.Wide(zt[e]) * invT - lseT;
            double pt = KernelMath.Exp(lt);
            if (wantS) gs[e] = w.Narrow(g * (KernelMath.Exp(ls) - pt));
            if (wantT) gt[e] = w.Narrow(term.GradT(g, pt, ls, lt, l));
        }
    }

    /// <summary>y[i] = x[i] / divisor rounded once to T: the pixel terms (reduction None) or their device total
    /// (Mean, Sum) to the loss's element type.</summary>
    public static void Narrow<T, TW>(Index1D i, ArrayView<double> x, ArrayView<T> y, double divisor)
        where T : unmanaged
        where TW : struct, IWiden<T>
        => y[i] = default(TW).Narrow(x[i] / divisor);

    /// <summary>Backward of the pixel-wise loss: result[e] = g[e]·up[·] over g [B, K, P], with the upstream read from
    /// device memory — one element (a scalar loss) or one per pixel n·P + q (reduction None), told apart by its length.</summary>
    public static void ScaleGrad<T>(Index1D index, ArrayView<T> g, ArrayView<T> up, ArrayView<T> result, int k, int p)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        long e = index;
        long u = 0;
        if (up.Length != 1)
        {
            long kp = (long)k * p;
            long n = e / kp;
            u = n * p + (e - n * kp) % p;
        }
        result[e] = g[e] * up[u];
    }

    /// <summary>
    /// Node normalisation of the pair-wise loss, one thread per (image i, pixel column q) of the columns [p0, p0 + m)
    /// of x [I, C, stride] (index i·m + q): norm[i, q] = √Σ_c x[i, c, p0+q]² and hat[i, c, q] = x[i, c, p0+q] / d
    /// rounded once to <typeparamref name="TH"/>, d = max(norm + add, floor) — add = floor = eps gives the authors'
    /// norm + eps (norm ≥ 0), add = 0 gives max(norm, eps) (F.normalize's clamp): data, not a mode. hat is [I, C, m].
    /// Norms and quotients in double whatever T and TH.
    /// </summary>
    public static void Nodes<T, TW, TH, THW>(Index1D index, ArrayView<T> x, ArrayView<TH> hat, ArrayView<double> norm,
        int c, long stride, long p0, int m, double add, double floor)
        where T : unmanaged
        where TW : struct, IWiden<T>
        where TH : unmanaged
        where THW : struct, IWiden<TH>
    {
        var w = default(TW);
        int idx = index;
        int i = idx / m, q = idx - i * m;
        long xo = (long)i * c * stride + p0 + q, ho = (long)i * c * m + q;
        double s = 0;
        for (int ch = 0; ch < c; ch++) { double v = w.Wide(x[xo + ch * stride]); s += v * v; }
        double nq = Math.Sqrt(s);
        norm[idx] = nq;
        double inv = 1 / KernelMath.AtLeast(nq + add, floor);
        var wh = default(THW);
        for (int ch = 0; ch < c; ch++) hat[ho + (long)ch * m] = wh.Narrow(w.Wide(x[xo + ch * stride]) * inv);
    }
    /// <summary>
    /// One entry of the pair-wise loss's direct form, D[q, p] = ŝ_q·ŝ_p − t̂_q·t̂_p, for one image xs [cs, n], xt [ct, n]
    /// read in place (nodes are columns) with their float64 column norms: each dot product formed from the raw columns
    /// in double, then divided by the two nodes' divisors max(norm + add, floor) (see <see cref="Nodes"/>). The
    /// difference is taken per entry, so it keeps its digits where the Gram form's three large terms cancel.
    /// </summary>
    static double DirectEntry<T, TW>(ArrayView<T> xs, ArrayView<T> xt, ArrayView<double> ns, ArrayView<double> nt,
        int cs, int ct, int n, int q, int p, double add, double floor)
        where T : unmanaged
        where TW : struct, IWiden<T>
    {
        var w = default(TW);
        double a = 0, b = 0;
        for (int k = 0; k < cs; k++) a += w.Wide(xs[(long)k * n + q]) * w.Wide(xs[(long)k * n + p]);
        for (int k = 0; k < ct; k++) b += w.Wide(xt[(long)k * n + q]) * w.Wide(xt[(long)k * n + p]);
        double ds = KernelMath.AtLeast(ns[q] + add, floor) * KernelMath.AtLeast(ns[p] + add, floor);
        double dt = KernelMath.AtLeast(nt[q] + add, floor) * KernelMath.AtLeast(nt[p] + add, floor);
        return a / ds - b / dt;
    }

    /// <summary>
    /// The pair-wise loss's precision fallback, chosen on the device (issue 13: no host read decides it). One thread per
    /// node p of one image: rows[p] = Σ_q D[q, p]² (<see cref="DirectEntry"/>, q ascending) when flag[0] ≠ 0, else 0 —
    /// an image whose Gram form kept its digits pays one read of its flag. O(n·(cs + ct)) per thread.
    /// </summary>
    public static void DirectRows<T, TW>(Index1D index, ArrayView<double> flag, ArrayView<T> xs, ArrayView<T> xt,
        ArrayView<double> ns, ArrayView<double> nt, ArrayView<double> rows, int cs, int ct, int n, double add, double floor)
        where T : unmanaged
        where TW : struct, IWiden<T>
    {
        int p = index;
        if (flag[0] == 0) { rows[p] = 0; return; }
        double sum = 0;
        for (int q = 0; q < n; q++)
        {
            double d = DirectEntry<T, TW>(xs, xt, ns, nt, cs, ct, n, q, p, add, floor);
            sum += d * d;
        }
        rows[p] = sum;
    }

    /// <summary>
    /// The columns [p0, p0 + m) of D for the fallback's gradient, one thread per entry (index q·m + j): d[q·m + j] =
    /// D[q, p0 + j] when flag[0] ≠ 0; nothing is written otherwise. O(cs + ct) per thread.
    /// </summary>
    public static void DirectColumns<T, TW>(Index1D index, ArrayView<double> flag, ArrayView<T> xs, ArrayView<T> xt,
        ArrayView<double> ns, ArrayView<double> nt, ArrayView<double> d, int cs, int ct, int n, int p0, int m, double add, double floor)
        where T : unmanaged
        where TW : struct, IWiden<T>
    {
        if (flag[0] == 0) return;
        int idx = index;
        int q = idx / m, j = idx - q * m;
        d[idx] = DirectEntry<T, TW>(xs, xt, ns, nt, cs, ct, n, q, p0 + j, add, floor);
    }

    /// <summary>
    /// The fallback's gradient with respect to one side's normalised nodes on the columns of <see cref="DirectColumns"/>,
    /// one thread per (channel ch, column j) (index ch·m + j): g[ch·gStride + gOff + j] = sign·Σ_q x̂[ch, q]·d[q·m + j]
    /// (q ascending, x̂ = x / max(norm + add, floor) formed in double) when flag[0] ≠ 0; otherwise g keeps what the
    /// Gram form wrote there. O(n) per thread.
    /// </summary>
    public static void DirectHatGrad<T, TW>(Index1D index, ArrayView<double> flag, ArrayView<T> x, ArrayView<double> norm,
        ArrayView<double> d, ArrayView<double> g, int n, int m, int gStride, int gOff, double sign, double add, double floor)
        where T : unmanaged
        where TW : struct, IWiden<T>
    {
        if (flag[0] == 0) return;
        var w = default(TW);
        int idx = index;
        int ch = idx / m, j = idx - ch * m;
        long xo = (long)ch * n;
        double sum = 0;
        for (int q = 0; q < n; q++) sum += w.Wide(x[xo + q]) / KernelMath.AtLeast(norm[q] + add, floor) * d[(long)q * m + j];
        g[(long)ch * gStride + gOff + j] = sign * sum;
    }
}
