using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>
/// Structured-KD pixel-wise loss over NCHW logits, value and gradient in one pass per pixel (the class axis
/// is strided by P = H·W). Per pixel, with a = z_S/T, c = z_T/T, log p_S = a − lse(a), log p_T = c − lse(c):
///   cross-entropy  ℓ = −Σ_k p_T,k log p_S,k,     ∂ℓ/∂z_S = (p_S − p_T)/T,  ∂ℓ/∂z_T = −p_T (log p_S + ℓ)/T;
///   KL             ℓ = Σ_k p_T,k (log p_T,k − log p_S,k),  ∂ℓ/∂z_S = (p_S − p_T)/T,  ∂ℓ/∂z_T = p_T (log p_T − log p_S − ℓ)/T.
/// Everything per pixel is evaluated in double: the KL is a small difference (it vanishes as student → teacher),
/// which float32 would lose. The caller scales the gradients (1/(H·W), or T²/(B·H·W)).
/// <para>
/// Vectorised across pixels: an image's pixels are contiguous for each class, so one group of 2·L adjacent pixels
/// (L = <see cref="Vector{T}.Count"/> of double; a Vector&lt;float&gt; widened to two Vector&lt;double&gt;) is
/// processed at once, class by class: the maxima, then e = exp(z/T − max) once per class and side (kept in a
/// [K, 2L] scratch, so p = e/Σe needs no second exp), then the terms and the student's gradient, then the teacher's
/// gradient (it needs the pixel's ℓ). 2 vector exps per class and pixel group, against the scalar loop's 5 exps per
/// class and pixel. The last, ragged group of an image is copied into a zero-padded group, so every pixel goes
/// through the same vector code (bits do not depend on where a pixel falls).
/// </para>
/// <para>
/// Parallel over work units of <see cref="Block"/> pixels of one image (images × pixel blocks, a fixed partition
/// whatever the thread count); each unit sums its pixels' terms in pixel order into one partial, and the caller adds
/// the partials in unit order: bit-identical results on any number of threads.
/// </para>
/// </summary>
internal static unsafe class CpuSkdPixelwise
{
    /// <summary>Pixels per work unit (a multiple of every group width 2·L).</summary>
    public const int Block = 512;

    /// <summary>Work units (and partials) of a [b, ·, P] batch: <paramref name="b"/> · ⌈P / <see cref="Block"/>⌉.</summary>
    public static int Units(int b, int p) => b * ((p + Block - 1) / Block);

    /// <summary>Classes up to which the per-unit exp scratch lives on the stack (2·K·2L doubles); above it, a heap array.</summary>
    const int StackClasses = 128;

    /// <summary>partials[u] = Σ ℓ over the pixels of work unit u (image u / ⌈P/Block⌉, pixels in pixel order; see
    /// <see cref="Units"/>); gs/gt (null to skip) = scale·∂ℓ/∂z of each side. <paramref name="maxThreads"/>: the loop's
    /// degree of parallelism at most (−1: no cap); results do not depend on it.</summary>
    public static void Run<T>(T* zs, T* zt, T* gs, T* gt, double* partials, int b, int k, int p, double invT, bool kl, double scale,
                              int maxThreads = -1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double)) throw new NotSupportedException(typeof(T).Name);
        int per = (p + Block - 1) / Block;
        int lanes = Vector<double>.Count, group = 2 * lanes;
        // Per pixel and class: 2 exps (≈ 20 flops each), loads, the terms and gradients: ≈ 60 scalar operations.
        CpuParallel.For(b * per, 60L * k * Block, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (unit) =>
        {
            int n = unit / per, q0 = (unit - n * per) * Block, w = Math.Min(Block, p - q0);
            long o = (long)n * k * p + q0;
            long scratchLen = 2L * k * group;
            double[]? heap = k > StackClasses ? new double[scratchLen] : null;
            double* stack = stackalloc double[k > StackClasses ? 1 : (int)scratchLen];
            fixed (double* h = heap)
            {
                double* e = heap is null ? stack : h;
                double sum = 0;
                int full = w - w % group, q = 0;
                for (; q < full; q += group)
                    sum += Group(zs + o + q, zt + o + q, p, gs == null ? null : gs + o + q, gt == null ? null : gt + o + q,
                                 e, k, invT, kl, scale, group);
                if (q < w) sum += Tail(zs + o + q, zt + o + q, p, gs == null ? null : gs + o + q, gt == null ? null : gt + o + q,
                                       e, k, invT, kl, scale, w - q);
                partials[unit] = sum;
            }
        }, maxThreads);
    }

    /// <summary>The last <paramref name="valid"/> (&lt; 2L) pixels of an image: copied into a zero-padded [K, 2L] group,
    /// run through <see cref="Group{T}"/>, gradients copied back.</summary>
    static double Tail<T>(T* s, T* t, long stride, T* gs, T* gt, double* e, int k, double invT, bool kl, double scale, int valid)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int group = 2 * Vector<double>.Count;
        var buffer = new T[4L * k * group];
        fixed (T* buf = buffer)
        {
            T* ps = buf, pt = buf + k * group, pgs = buf + 2 * k * group, pgt = buf + 3 * k * group;
            for (int c = 0; c < k; c++)
                for (int j = 0; j < valid; j++)
                {
                    ps[c * group + j] = s[c * stride + j];
                    pt[c * group + j] = t[c * stride + j];
                }
            double sum = Group(ps, pt, group, gs == null ? null : pgs, gt == null ? null : pgt, e, k, invT, kl, scale, valid);
            for (int c = 0; c < k; c++)
                for (int j = 0; j < valid; j++)
                {
                    if (gs != null) gs[c * stride + j] = pgs[c * group + j];
                    if (gt != null) gt[c * stride + j] = pgt[c * group + j];
                }
            return sum;
        }
    }

    /// <summary>One group of 2L adjacent pixels (class c of pixel j at s[c·stride + j]); returns the sum of the first
    /// <paramref name="valid"/> pixels' terms in pixel order. <paramref name="e"/>: scratch of 2·K·2L doubles.
    /// float32 cross-entropy takes <see cref="GroupCrossEntropy32"/>, everything else <see cref="GroupWide{T}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static double Group<T>(T* s, T* t, long stride, T* gs, T* gt, double* e, int k, double invT, bool kl, double scale, int valid)
        where T : unmanaged, IFloatingPointIeee754<T>
        => typeof(T) == typeof(float) && !kl && Vector<float>.Count == 2 * Vector<double>.Count
            ? GroupCrossEntropy32((float*)s, (float*)t, stride, (float*)gs, (float*)gt, (float*)e, k, invT, scale, valid)
            : GroupWide(s, t, stride, gs, gt, e, k, invT, kl, scale, valid);

    /// <summary>
    /// float32 logits, cross-entropy: the exps in float32 (8 lanes on AVX2 against double's 4, a degree-6 polynomial
    /// against 13: ≈ 3× fewer operations per pixel and class), everything else as in <see cref="GroupWide{T}"/>: the
    /// sums Σe, log-sum-exp, log p_S = z_S/T − lse and the term −Σ p_T log p_S in double; p_S − p_T (the student's
    /// gradient, float32 output) in float32. Accuracy: each e and p carries ≈ 2e-7 relative error, so the term (of order
    /// log K) is within ≈ 1e-7 relative, and the student's gradient p_S − p_T within ≈ 2e-7·p/|p_S − p_T| (≈ 1e-5 for a
    /// student within 1 % of the teacher), inside DESIGN §5's 1e-4 — the float32 reference composition carries the same
    /// error. The KL mode is a small difference of those terms and keeps <see cref="GroupWide{T}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static double GroupCrossEntropy32(float* s, float* t, long stride, float* gs, float* gt, float* e, int k, double invT, double scale, int valid)
    {
        int lanes = Vector<double>.Count, group = Vector<float>.Count;
        float invTf = (float)invT;
        var vInvTf = new Vector<float>(invTf);
        var vInvT = new Vector<double>(invT);
        // max over the raw logits (invT > 0 and rounding is monotone: max(z·invT) = max(z)·invT, here in float32).
        var ms = new Vector<float>(float.NegativeInfinity);
        var mt = ms;
        for (int c = 0; c < k; c++)
        {
            ms = Vector.Max(ms, Unsafe.Read<Vector<float>>(s + c * stride));
            mt = Vector.Max(mt, Unsafe.Read<Vector<float>>(t + c * stride));
        }
        ms *= vInvTf; mt *= vInvTf;
        Vector<double> zsL = Vector<double>.Zero, zsH = zsL, ztL = zsL, ztH = zsL;
        float* es = e, et = e + k * group;
        for (int c = 0; c < k; c++)
        {
            var x = ExpNonPositive(Unsafe.Read<Vector<float>>(s + c * stride) * vInvTf - ms);
            var y = ExpNonPositive(Unsafe.Read<Vector<float>>(t + c * stride) * vInvTf - mt);
            Unsafe.Write(es + c * group, x);
            Unsafe.Write(et + c * group, y);
            Vector.Widen(x, out var x0, out var x1);
            Vector.Widen(y, out var y0, out var y1);
            zsL += x0; zsH += x1; ztL += y0; ztH += y1;
        }
        Vector.Widen(ms, out var msL, out var msH);
        var lseSL = msL + Vector.Log(zsL); var lseSH = msH + Vector.Log(zsH);
        var one = Vector<double>.One;
        var rs = Vector.Narrow(one / zsL, one / zsH);
        var rt = Vector.Narrow(one / ztL, one / ztH);
        var gf = new Vector<float>((float)(scale * invT));
        Vector<double> lL = Vector<double>.Zero, lH = lL;
        for (int c = 0; c < k; c++)
        {
            Vector.Widen(Unsafe.Read<Vector<float>>(s + c * stride), out var a0, out var a1);
            var pt = Unsafe.Read<Vector<float>>(et + c * group) * rt;
            Vector.Widen(pt, out var pt0, out var pt1);
            lL -= pt0 * (a0 * vInvT - lseSL);
            lH -= pt1 * (a1 * vInvT - lseSH);
            if (gs != null) Unsafe.Write(gs + c * stride, gf * (Unsafe.Read<Vector<float>>(es + c * group) * rs - pt));
        }
        if (gt != null)
        {
            var g = new Vector<double>(scale * invT);
            for (int c = 0; c < k; c++)
            {
                Vector.Widen(Unsafe.Read<Vector<float>>(s + c * stride), out var a0, out var a1);
                Vector.Widen(Unsafe.Read<Vector<float>>(et + c * group) * rt, out var pt0, out var pt1);
                Unsafe.Write(gt + c * stride, Vector.Narrow(-(g * pt0 * (a0 * vInvT - lseSL + lL)), -(g * pt1 * (a1 * vInvT - lseSH + lH))));
            }
        }
        double sum = 0;
        for (int j = 0; j < valid; j++) sum += j < lanes ? lL[j] : lH[j - lanes];
        return sum;
    }

    /// <summary>One group in double throughout (float64 logits, or the KL mode): see <see cref="Group{T}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static double GroupWide<T>(T* s, T* t, long stride, T* gs, T* gt, double* e, int k, double invT, bool kl, double scale, int valid)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int lanes = Vector<double>.Count, group = 2 * lanes;
        var vInvT = new Vector<double>(invT);
        var g = new Vector<double>(scale * invT);
        var msL = new Vector<double>(double.NegativeInfinity);
        Vector<double> msH = msL, mtL = msL, mtH = msL;
        for (int c = 0; c < k; c++)
        {
            CpuSkdNodes.Load(s + c * stride, out var a0, out var a1);
            CpuSkdNodes.Load(t + c * stride, out var b0, out var b1);
            msL = Vector.Max(msL, a0 * vInvT); msH = Vector.Max(msH, a1 * vInvT);
            mtL = Vector.Max(mtL, b0 * vInvT); mtH = Vector.Max(mtH, b1 * vInvT);
        }
        Vector<double> zsL = Vector<double>.Zero, zsH = zsL, ztL = zsL, ztH = zsL;
        double* es = e, et = e + k * group;
        for (int c = 0; c < k; c++)
        {
            CpuSkdNodes.Load(s + c * stride, out var a0, out var a1);
            CpuSkdNodes.Load(t + c * stride, out var b0, out var b1);
            var x0 = ExpNonPositive(a0 * vInvT - msL); var x1 = ExpNonPositive(a1 * vInvT - msH);
            var y0 = ExpNonPositive(b0 * vInvT - mtL); var y1 = ExpNonPositive(b1 * vInvT - mtH);
            Unsafe.Write(es + c * group, x0); Unsafe.Write(es + c * group + lanes, x1);
            Unsafe.Write(et + c * group, y0); Unsafe.Write(et + c * group + lanes, y1);
            zsL += x0; zsH += x1; ztL += y0; ztH += y1;
        }
        var lseSL = msL + Vector.Log(zsL); var lseSH = msH + Vector.Log(zsH);
        var lseTL = mtL + Vector.Log(ztL); var lseTH = mtH + Vector.Log(ztH);
        var one = Vector<double>.One;
        Vector<double> rsL = one / zsL, rsH = one / zsH, rtL = one / ztL, rtH = one / ztH;
        Vector<double> lL = Vector<double>.Zero, lH = lL;
        for (int c = 0; c < k; c++)
        {
            CpuSkdNodes.Load(s + c * stride, out var a0, out var a1);
            CpuSkdNodes.Load(t + c * stride, out var b0, out var b1);
            var ls0 = a0 * vInvT - lseSL; var ls1 = a1 * vInvT - lseSH;
            var pt0 = Unsafe.Read<Vector<double>>(et + c * group) * rtL;
            var pt1 = Unsafe.Read<Vector<double>>(et + c * group + lanes) * rtH;
            if (kl)
            {
                lL += pt0 * (b0 * vInvT - lseTL - ls0);
                lH += pt1 * (b1 * vInvT - lseTH - ls1);
            }
            else
            {
                lL -= pt0 * ls0;
                lH -= pt1 * ls1;
            }
            if (gs != null)
                CpuSkdNodes.Store(gs + c * stride,
                                  g * (Unsafe.Read<Vector<double>>(es + c * group) * rsL - pt0),
                                  g * (Unsafe.Read<Vector<double>>(es + c * group + lanes) * rsH - pt1));
        }
        if (gt != null)
        {
            for (int c = 0; c < k; c++)
            {
                CpuSkdNodes.Load(s + c * stride, out var a0, out var a1);
                var ls0 = a0 * vInvT - lseSL; var ls1 = a1 * vInvT - lseSH;
                var pt0 = Unsafe.Read<Vector<double>>(et + c * group) * rtL;
                var pt1 = Unsafe.Read<Vector<double>>(et + c * group + lanes) * rtH;
                Vector<double> r0, r1;
                if (kl)
                {
                    CpuSkdNodes.Load(t + c * stride, out var b0, out var b1);
                    r0 = g * pt0 * (b0 * vInvT - lseTL - ls0 - lL);
                    r1 = g * pt1 * (b1 * vInvT - lseTH - ls1 - lH);
                }
                else
                {
                    r0 = -(g * pt0 * (ls0 + lL));
                    r1 = -(g * pt1 * (ls1 + lH));
                }
                CpuSkdNodes.Store(gt + c * stride, r0, r1);
            }
        }
        double sum = 0;
        for (int j = 0; j < valid; j++) sum += j < lanes ? lL[j] : lH[j - lanes];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector<double> Fma(Vector<double> a, Vector<double> b, Vector<double> c) => FusedAvailable ? Vector.FusedMultiplyAdd(a, b, c) : a * b + c;

    /// <summary>A hardware fused multiply-add (else a·b + c, rounded twice: a different but as deterministic result).</summary>
    static readonly bool FusedAvailable = System.Runtime.Intrinsics.X86.Fma.IsSupported || System.Runtime.Intrinsics.Arm.AdvSimd.Arm64.IsSupported;

    /// <summary>
    /// e^x for x ≤ 0 (x = z/T − max), lane-wise, within ~1 ulp: x = n·ln 2 + r with |r| ≤ ln 2 / 2 (n by the 1.5·2^52
    /// shifter, ln 2 in two parts so n·ln2_hi is exact), e^r by its Taylor polynomial to degree 13 (remainder
    /// ≤ 4e-18), times 2^n built in the exponent bits. x &lt; −708 (and −∞) gives 0 (e^x &lt; 3.4e-308, below every sum
    /// it is added to, which holds 1); NaN stays NaN. .NET's <c>Vector.Exp(Vector&lt;double&gt;)</c> measured slower than
    /// scalar <see cref="Math.Exp(double)"/> on the AVX2 development machine (5.2 vs 5.7 ns per element; this: 2.8 ns).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector<double> ExpNonPositive(Vector<double> x)
    {
        var shifter = new Vector<double>(6755399441055744.0);   // 1.5·2^52: t's low mantissa bits hold round(x/ln 2)
        var t = x * new Vector<double>(1.4426950408889634) + shifter;
        var n = t - shifter;
        var r = x - n * new Vector<double>(0.693147180369123816490) - n * new Vector<double>(1.90821492927058770002e-10);
        var q = new Vector<double>(1.0 / 6227020800.0);
        q = Fma(q, r, new Vector<double>(1.0 / 479001600.0));
        q = Fma(q, r, new Vector<double>(1.0 / 39916800.0));
        q = Fma(q, r, new Vector<double>(1.0 / 3628800.0));
        q = Fma(q, r, new Vector<double>(1.0 / 362880.0));
        q = Fma(q, r, new Vector<double>(1.0 / 40320.0));
        q = Fma(q, r, new Vector<double>(1.0 / 5040.0));
        q = Fma(q, r, new Vector<double>(1.0 / 720.0));
        q = Fma(q, r, new Vector<double>(1.0 / 120.0));
        q = Fma(q, r, new Vector<double>(1.0 / 24.0));
        q = Fma(q, r, new Vector<double>(1.0 / 6.0));
        q = Fma(q, r, new Vector<double>(0.5));
        q = Fma(q, r, Vector<double>.One);
        q = Fma(q, r, Vector<double>.One);
        // 2^n: (bits of t) + 1023 has n + 1023 in its low bits; shifted into the exponent field, the rest falls off.
        var scale = Vector.AsVectorDouble(Vector.ShiftLeft(Vector.AsVectorUInt64(t) + new Vector<ulong>(1023), 52));
        return Vector.ConditionalSelect(Vector.LessThan(x, new Vector<double>(-708.0)), Vector<double>.Zero, q * scale);
    }
    /// <summary>
    /// e^x for x ≤ 0 in float32, lane-wise, within ~1 ulp (Cephes' expf: x = n·ln 2 + r, ln 2 in two parts, a degree-6
    /// polynomial, 2^n in the exponent bits). x &lt; −87 (and −∞) gives 0 (e^x &lt; 1.7e-38, below every sum it is added
    /// to, which holds 1); NaN stays NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector<float> ExpNonPositive(Vector<float> x)
    {
        var shifter = new Vector<float>(12582912f);   // 1.5·2^23
        var t = x * new Vector<float>(1.44269504088896341f) + shifter;
        var n = t - shifter;
        var r = x - n * new Vector<float>(0.693359375f) - n * new Vector<float>(-2.12194440e-4f);
        var q = new Vector<float>(1.9875691500e-4f);
        q = Fma(q, r, new Vector<float>(1.3981999507e-3f));
        q = Fma(q, r, new Vector<float>(8.3334519073e-3f));
        q = Fma(q, r, new Vector<float>(4.1665795894e-2f));
        q = Fma(q, r, new Vector<float>(1.6666665459e-1f));
        q = Fma(q, r, new Vector<float>(5.0000001201e-1f));
        q = Fma(q, r * r, r) + Vector<float>.One;
        var scale = Vector.AsVectorSingle(Vector.ShiftLeft(Vector.AsVectorUInt32(t) + new Vector<uint>(127), 23));
        return Vector.ConditionalSelect(Vector.LessThan(x, new Vector<float>(-87f)), Vector<float>.Zero, q * scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector<float> Fma(Vector<float> a, Vector<float> b, Vector<float> c) => FusedAvailable ? Vector.FusedMultiplyAdd(a, b, c) : a * b + c;
}
