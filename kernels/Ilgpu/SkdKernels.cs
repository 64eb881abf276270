using GpuKd.Kernels.Maths;
using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>Scalar arguments of <see cref="SkdKernels.Pixelwise{T}"/>.</summary>
public struct SkdPixelArgs<T> where T : unmanaged
{
    /// <summary>Classes K and pixels per image P = H·W (the class stride).</summary>
    public int K, P;
    /// <summary>1 for the temperature KL, 0 for the cross-entropy; 1 where that side's gradient is written.</summary>
    public int Kl, GradS, GradT;
    /// <summary>1/T and the factor of the gradients (1/(H·W), or T²/(B·H·W)).</summary>
    public T InvT, Scale;
}

/// <summary>
/// Structured-KD kernels, the ILGPU twins of <see cref="Cpu.CpuSkdPixelwise"/> and <see cref="Cpu.CpuSkdNodes"/>
/// (same formulas, same per-thread summation order; exp/log from <see cref="KernelMath"/>, within a few ulp of
/// Math's). One thread per pixel (column): no atomics, partial terms summed by the host in a fixed order.
/// Hosts launch them with T = double (float32 inputs are widened first): the pixel-wise KL is a small difference
/// and the pair-wise Gram terms nearly cancel, so both need float64 throughout, and a generic kernel cannot
/// convert T to double (the .NET conversion paths box).
/// </summary>
public static class SkdKernels
{
    /// <summary>
    /// Pixel-wise loss over NCHW logits, one thread per pixel idx = n·P + q of the B·P pixels: with a = z_S/T,
    /// c = z_T/T, terms[idx] = −Σ_k p_T,k log p_S,k (CE) or Σ_k p_T,k (log p_T,k − log p_S,k) (KL), and where asked
    /// gs = Scale·(p_S − p_T)/T, gt = Scale·(−p_T(log p_S + ℓ)) / T (CE) or Scale·p_T(log p_T − log p_S − ℓ)/T (KL).
    /// </summary>
    public static void Pixelwise<T>(Index1D index, ArrayView<T> zs, ArrayView<T> zt, ArrayView<T> gs, ArrayView<T> gt,
        ArrayView<T> terms, SkdPixelArgs<T> a)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int idx = index;
        int n = idx / a.P, q = idx - n * a.P;
        long o = (long)n * a.K * a.P + q;
        T ms = T.NegativeInfinity, mt = T.NegativeInfinity;
        for (int c = 0; c < a.K; c++)
        {
            long e = o + (long)c * a.P;
            ms = KernelMath.MaxNaN(ms, zs[e] * a.InvT);   // not T.Max: PTX max drops NaN
            mt = KernelMath.MaxNaN(mt, zt[e] * a.InvT);
        }
        T sumS = T.Zero, sumT = T.Zero;
        for (int c = 0; c < a.K; c++)
        {
            long e = o + (long)c * a.P;
            sumS += KernelMath.Exp(zs[e] * a.InvT - ms);
            sumT += KernelMath.Exp(zt[e] * a.InvT - mt);
        }
        T lseS = ms + KernelMath.Log(sumS), lseT = mt + KernelMath.Log(sumT);
        T l = T.Zero;
        for (int c = 0; c < a.K; c++)
        {
            long e = o + (long)c * a.P;
            T ls = zs[e] * a.InvT - lseS, lt = zt[e] * a.InvT - lseT;
            T pt = KernelMath.Exp(lt);
            l += a.Kl != 0 ? pt * (lt - ls) : -(pt * ls);
        }
        terms[idx] = l;
        if (a.GradS == 0 && a.GradT == 0) return;
        T g = a.Scale * a.InvT;
        for (int c = 0; c < a.K; c++)
        {
            long e = o + (long)c * a.P;
            T ls = zs[e] * a.InvT - lseS, lt = zt[e] * a.InvT - lseT;
            T pt = KernelMath.Exp(lt);
            if (a.GradS != 0) gs[e] = g * (KernelMath.Exp(ls) - pt);
            if (a.GradT != 0) gt[e] = a.Kl != 0 ? g * pt * (lt - ls - l) : -(g * pt * (ls + l));
        }
    }

    /// <summary>
    /// Node normalisation of the pair-wise loss, one thread per pixel column q of [p0, p0 + m) of x [C, ·] (row
    /// stride <paramref name="stride"/>): norm[q] = √Σ_c x[c, p0+q]², hat[c, q] = x[c, p0+q] / (norm + eps) when
    /// <paramref name="offset"/> is 1 (the authors', norm held constant), else / max(norm, eps); hat is [C, m].
    /// </summary>
    public static void Nodes<T>(Index1D index, ArrayView<T> x, ArrayView<T> hat, ArrayView<T> norm,
        long stride, int c, long p0, int m, int offset, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int q = index;
        T s = T.Zero;
        for (int ch = 0; ch < c; ch++) { T v = x[ch * stride + p0 + q]; s += v * v; }
        T nq = T.Sqrt(s);
        norm[q] = nq;
        T inv = T.One / (offset != 0 ? nq + eps : KernelMath.AtLeast(nq, eps));
        for (int ch = 0; ch < c; ch++) hat[(long)ch * m + q] = x[ch * stride + p0 + q] * inv;
    }
}
