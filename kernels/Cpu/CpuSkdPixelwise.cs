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
/// </summary>
internal static unsafe class CpuSkdPixelwise
{
    /// <summary>terms[n·P + p] = ℓ of pixel p of image n; gs/gt (null to skip) = scale·∂ℓ/∂z of each side.</summary>
    public static void Run<T>(T* zs, T* zt, T* gs, T* gt, double* terms, int b, int k, int p, double invT, bool kl, double scale)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CpuParallel.For(b * p, 6L * k, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (idx) =>
        {
            int n = idx / p, q = idx - n * p;
            long o = (long)n * k * p + q;
            T* s = zs + o, t = zt + o;
            double ms = double.NegativeInfinity, mt = double.NegativeInfinity;
            for (int c = 0; c < k; c++)
            {
                ms = Math.Max(ms, double.CreateTruncating(s[(long)c * p]) * invT);
                mt = Math.Max(mt, double.CreateTruncating(t[(long)c * p]) * invT);
            }
            double zS = 0, zT = 0;
            for (int c = 0; c < k; c++)
            {
                zS += Math.Exp(double.CreateTruncating(s[(long)c * p]) * invT - ms);
                zT += Math.Exp(double.CreateTruncating(t[(long)c * p]) * invT - mt);
            }
            double lseS = ms + Math.Log(zS), lseT = mt + Math.Log(zT);
            double l = 0;
            for (int c = 0; c < k; c++)
            {
                double ls = double.CreateTruncating(s[(long)c * p]) * invT - lseS;
                double lt = double.CreateTruncating(t[(long)c * p]) * invT - lseT;
                double pt = Math.Exp(lt);
                l += kl ? pt * (lt - ls) : -pt * ls;
            }
            terms[idx] = l;
            if (gs == null && gt == null) return;
            double g = scale * invT;
            for (int c = 0; c < k; c++)
            {
                long e = o + (long)c * p;
                double ls = double.CreateTruncating(zs[e]) * invT - lseS;
                double lt = double.CreateTruncating(zt[e]) * invT - lseT;
                double pt = Math.Exp(lt);
                if (gs != null) gs[e] = T.CreateTruncating(g * (Math.Exp(ls) - pt));
                if (gt != null) gt[e] = T.CreateTruncating(kl ? g * pt * (lt - ls - l) : -g * pt * (ls + l));
            }
        });
    }
}
