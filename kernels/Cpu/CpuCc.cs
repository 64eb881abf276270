using GpuKd.Kernels.Maths;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>The CPU twin of <see cref="Ilgpu.CcKernels"/> (same scalar maths, shared: f and f' are
/// <see cref="CcFunction.Value{T}"/> and <see cref="CcFunction.Slope{T}"/>), one row per iteration.
/// The Taylor and bilinear kernels run Vector&lt;T&gt; lanes at a time with the same per-element
/// operations in the same order (the same bits as the scalar functions); the exact RBF (exp) stays scalar.</summary>
internal static unsafe class CpuCc
{
    /// <summary>f(a) lanes for the Taylor (kind 0) or bilinear (kind ≥ 2) kernels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static Vector<T> Value<T>(Vector<T> a, int kind, int order, Vector<T> t, Vector<T> c0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (kind != 0) return a;
        Vector<T> term = c0, f = c0, p = Vector<T>.One;
        for (int k = 1; k <= order; k++) { term = term * t * a / p; f += term; p += Vector<T>.One; }
        return f;
    }

    /// <summary>(f(a), f'(a)) lanes for the Taylor (kind 0) or bilinear (kind ≥ 2) kernels: f' is t times the
    /// series one order shorter, i.e. the partial sum the loop for f passes through.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]
    static (Vector<T> F, Vector<T> Slope) ValueSlope<T>(Vector<T> a, int kind, int order, Vector<T> t, Vector<T> c0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (kind != 0) return (a, Vector<T>.One);
        if (order == 0) return (c0, Vector<T>.Zero);
        Vector<T> term = c0, f = c0, p = Vector<T>.One, shorter = c0;
        for (int k = 1; k <= order; k++)
        {
            if (k == order) shorter = f;
            term = term * t * a / p; f += term; p += Vector<T>.One;
        }
        return (f, t * shorter);
    }

    /// <summary>partial_i = Σ_j (f(as_ij) − f(at_ij))².</summary>
    public static void LossRows<T>(T* aS, T* aT, T* partial, int n, int kind, int order, T t, T c0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, (4L + order) * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * n;
            int w = Vector<T>.Count, j = 0;
            T s = T.Zero;
            if (kind != 1)
            {
                var vt = new Vector<T>(t);
                var vc = new Vector<T>(c0);
                var acc = Vector<T>.Zero;
                for (; j <= n - w; j += w)
                {
                    var e = Value(Vector.Load(aS + o + j), kind, order, vt, vc) - Value(Vector.Load(aT + o + j), kind, order, vt, vc);
                    acc += e * e;
                }
                s = Vector.Sum(acc);
            }
            for (; j < n; j++)
            {
                T e = CcFunction.Value(aS[o + j], kind, order, t, c0) - CcFunction.Value(aT[o + j], kind, order, t, c0);
                s += e * e;
            }
            partial[i] = s;
        });
    }

    /// <summary>Ā = scale·(f(A^self) − f(A^other))·f'(A^self) over [n, n].</summary>
    public static void Backward<T>(T* aSelf, T* aOther, T* abar, int n, int kind, int order, T t, T c0, T scale) where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(n, (6L + 2 * order) * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
        {
            long o = (long)i * n;
            int w = Vector<T>.Count, j = 0;
            if (kind != 1)
            {
                var vt = new Vector<T>(t);
                var vc = new Vector<T>(c0);
                var vs = new Vector<T>(scale);
                for (; j <= n - w; j += w)
                {
                    var (f, slope) = ValueSlope(Vector.Load(aSelf + o + j), kind, order, vt, vc);
                    (vs * (f - Value(Vector.Load(aOther + o + j), kind, order, vt, vc)) * slope).Store(abar + o + j);
                }
            }
            for (; j < n; j++)
            {
                T a = aSelf[o + j];
                abar[o + j] = scale * (CcFunction.Value(a, kind, order, t, c0) - CcFunction.Value(aOther[o + j], kind, order, t, c0))
                              * CcFunction.Slope(a, kind, order, t, c0);
            }
        });
    }

    /// <summary>
    /// CC's widened float32 backward epilogue (A, Aᵒ the double cosines of <see cref="CpuWideGram.Assemble"/>, bit-symmetric),
    /// one row per iteration, Ā never stored: ā_ij = scale(f(A_ij) − f(Aᵒ_ij))f'(A_ij) (symmetric, so Ā + Āᵀ = 2Ā),
    /// c_i = 2Σ_j ā_ij A_ij, Ḡ_ij = ā_ij (s_i s_j) with s = 1/max(n, eps), 0 where row i or j has n = 0 (an exactly zero
    /// row: no gradient through its normalisation), and Ḡ_ii −= c_i/(2n_i²) where n_i &gt; eps. Writes h = Ḡ rounded once
    /// to float32 (the product (Ḡ + Ḡᵀ)Xc is then 2·hXc) and rowSums[i] = 2Σ_j Ḡ_ij in double (the row sums of Ḡ + Ḡᵀ).
    /// Replaces nine libtorch passes over b² doubles (Ā, Ā + Āᵀ, its product with A, Ḡ's two scalings, the mask, the
    /// symmetric sum, its float32 copy and halving).
    /// </summary>
    public static void WideBackward(double* a, double* aOther, double* norms, float* h, double* rowSums, int n, int kind, int order, double t, double c0, double scale, double eps)
    {
        var sArr = new double[n];
        for (int i = 0; i < n; i++) sArr[i] = 1 / Math.Max(norms[i], eps);   // Math.Max keeps a NaN
        fixed (double* sFixed = sArr)
        {
            double* s = sFixed;
            CpuParallel.For(n, (8L + 2 * order) * n, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (i) =>
            {
                long o = (long)i * n;
                double ni = norms[i], si = s[i];
                bool keepI = ni != 0;
                int w = Vector<float>.Count, hw = Vector<double>.Count, j = 0;
                double c = 0, rs = 0;
                if (kind != 1)
                {
                    var vt = new Vector<double>(t);
                    var vc = new Vector<double>(c0);
                    var vscale = new Vector<double>(scale);
                    var vsi = new Vector<double>(si);
                    var vkeepI = keepI ? Vector<long>.AllBitsSet : Vector<long>.Zero;
                    var accC = Vector<double>.Zero;
                    var accR = Vector<double>.Zero;
                    for (; j <= n - w; j += w)
                    {
                        var a0 = Vector.Load(a + o + j);
                        var a1 = Vector.Load(a + o + j + hw);
                        var (f0, slope0) = ValueSlope(a0, kind, order, vt, vc);
                        var (f1, slope1) = ValueSlope(a1, kind, order, vt, vc);
                        var abar0 = vscale * (f0 - Value(Vector.Load(aOther + o + j), kind, order, vt, vc)) * slope0;
                        var abar1 = vscale * (f1 - Value(Vector.Load(aOther + o + j + hw), kind, order, vt, vc)) * slope1;
                        accC += abar0 * a0 + abar1 * a1;
                        var keep0 = vkeepI & ~Vector.Equals(Vector.Load(norms + j), Vector<double>.Zero);
                        var keep1 = vkeepI & ~Vector.Equals(Vector.Load(norms + j + hw), Vector<double>.Zero);
                        var g0 = Vector.ConditionalSelect(keep0, abar0 * (vsi * Vector.Load(s + j)), Vector<double>.Zero);
                        var g1 = Vector.ConditionalSelect(keep1, abar1 * (vsi * Vector.Load(s + j + hw)), Vector<double>.Zero);
                        accR += g0 + g1;
                        Vector.Narrow(g0, g1).Store(h + o + j);
                    }
                    c = Vector.Sum(accC);
                    rs = Vector.Sum(accR);
                }
                for (; j < n; j++)
                {
                    double g = Gbar(j, out double abarA);
                    c += abarA;
                    rs += g;
                    h[o + j] = (float)g;
                }
                // The normalisation's diagonal term, with c_i = Σ_j (Ā + Āᵀ)_ij A_ij = 2Σ_j ā_ij A_ij, added to Ḡ_ii in double.
                if (ni > eps)
                {
                    double fix = -(2 * c) / (2 * ni * ni);
                    h[o + i] = (float)(Gbar(i, out _) + fix);
                    rs += fix;
                }
                rowSums[i] = 2 * rs;

                // Ḡ_ik in double (the vector lanes give the same bits), and ā_ik A_ik.
                double Gbar(int k, out double abarA)
                {
                    double ak = a[o + k];
                    double abar = scale * (CcFunction.Value(ak, kind, order, t, c0) - CcFunction.Value(aOther[o + k], kind, order, t, c0))
                                  * CcFunction.Slope(ak, kind, order, t, c0);
                    abarA = abar * ak;
                    return keepI && norms[k] != 0 ? abar * (si * s[k]) : 0;
                }
            });
        }
    }
}
