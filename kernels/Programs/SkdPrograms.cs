using System.Numerics;
using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Launch;

namespace GpuKd.Kernels.Programs;

/// <summary>
/// The structured-KD launch sequences (issue 13), written once for every device: the pixel-wise loss (terms,
/// gradients, the device total) and the pair-wise loss's node normalisation. The kernels read the inputs in their own
/// element type and compute in float64 (<see cref="SkdKernels"/>, <see cref="Maths.IWiden{T}"/>): no float64 copy
/// of a float32 input. Scalars stay on the device: the loss total is a fixed-order device reduction of the per-pixel
/// float64 terms, narrowed to T on the device; the backward reads the upstream gradient from device memory.
/// </summary>
public static class SkdPrograms<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Pixel-wise loss of NCHW logits zs, zt [b, k, p] (p = H·W), read in place: terms (float64 [b·p],
    /// a temporary), the gradients gs/gt (scaled by 1/<paramref name="count"/>; an empty buffer is not written), then
    /// loss = Σ terms / count (one element) or, <paramref name="perPixel"/>, the b·p terms / count.
    /// <paramref name="kl"/>: the temperature KL, else the soft cross-entropy. Temporaries: b·p + p + 1 doubles.</summary>
    public static void Pixelwise(IKdDevice dev, bool kl, Buf<T> zs, Buf<T> zt, Buf<T> gs, Buf<T> gt, Buf<T> loss, bool perPixel,
        int b, int k, int p, double invT, double count)
    {
        if (b < 1 || k < 1 || p < 1) throw new ArgumentException($"pixel-wise loss of [{b}, {k}, {p}].", nameof(k));
        long pixels = (long)b * p, all = pixels * k;
        zs.Need(all, nameof(zs));
        zt.Need(all, nameof(zt));
        if (gs.Length != 0) gs.Need(all, nameof(gs));
        if (gt.Length != 0) gt.Need(all, nameof(gt));
        loss.Need(perPixel ? pixels : 1, nameof(loss));
        Interlocked.Increment(ref SkdRuns.Pixelwise);
        var terms = dev.Alloc<double>(pixels);
        dev.Launch(kl ? K<T>.SkdPixelwiseKl : K<T>.SkdPixelwiseCe, LaunchShape.Extent1(pixels), zs, zt, gs, gt, terms, k, p, invT, 1 / count);
        if (perPixel)
        {
            dev.Launch(K<T>.SkdNarrow, LaunchShape.Extent1(pixels), terms, loss, count);
            return;
        }
        var total = dev.Alloc<double>(1);
        Rows<double>.Total(dev, terms, total, b, p, 1.0);
        dev.Launch(K<T>.SkdNarrow, LaunchShape.Extent1(1), total, loss, count);
    }

    /// <summary>Backward of <see cref="Pixelwise"/> for one side: result = g · upstream, g [b, k, p] the stored
    /// gradient, upstream one element (Mean, Sum) or b·p (None).</summary>
    public static void PixelwiseBackward(IKdDevice dev, Buf<T> g, Buf<T> upstream, Buf<T> result, int b, int k, int p)
    {
        long all = (long)b * k * p;
        g.Need(all, nameof(g));
        result.Need(all, nameof(result));
        if (upstream.Length != 1) upstream.Need((long)b * p, nameof(upstream));
        dev.Launch(K<T>.SkdScaleGrad, LaunchShape.Extent1(all), g, upstream, result, k, p);
    }

    /// <summary>Node normalisation of the pixel columns [p0, p0 + m) of every image of x [images, c, stride], read in
    /// place: hat [images, c, m] in <typeparamref name="TH"/> (float64, or float32 for the single-precision Gram path;
    /// quotients in double, rounded once) and norm float64 [images, m]. <paramref name="offset"/>: divide by norm + eps
    /// (the authors', norm held constant), else by max(norm, eps). One launch.</summary>
    public static void Nodes<TH>(IKdDevice dev, Buf<T> x, Buf<TH> hat, Buf<double> norm, int images, int c, long stride, long p0, int m,
        bool offset, double eps)
        where TH : unmanaged, IFloatingPointIeee754<TH>
    {
        if (p0 < 0 || m < 0 || p0 + m > stride) throw new ArgumentException($"columns [{p0}, {p0 + m}) outside a row of {stride}.", nameof(p0));
        if (images < 0 || c < 0) throw new ArgumentException($"{images} images of {c} channels.", nameof(images));
        x.Need((long)images * c * stride, nameof(x));
        hat.Need((long)images * c * m, nameof(hat));
        norm.Need((long)images * m, nameof(norm));
        Interlocked.Increment(ref SkdRuns.Nodes);
        var kernel = typeof(TH) == typeof(double) ? K<T>.SkdNodes64 : K<T>.SkdNodes32;
        dev.Launch(kernel, LaunchShape.Extent1(checked((long)images * m)), x, hat, norm, c, stride, p0, m, offset ? eps : 0.0, eps);
    }

    /// <summary>The pair-wise loss's precision fallback for one image, chosen on the device: rows [n] (float64) =
    /// Σ_q D[q, p]² of the direct form D = ŜŜᵀ − T̂T̂ᵀ when <paramref name="flag"/> (one float64, set on the device when
    /// the image's Gram form lost its digits) is non-zero, else zeros (<see cref="SkdKernels.DirectRows"/>). xs [cs, n],
    /// xt [ct, n] read in place; ns, nt their float64 column norms; <paramref name="offset"/> as in <see cref="Nodes"/>.
    /// One launch; no temporaries.</summary>
    public static void DirectRows(IKdDevice dev, Buf<double> flag, Buf<T> xs, Buf<T> xt, Buf<double> ns, Buf<double> nt, Buf<double> rows,
        int cs, int ct, int n, bool offset, double eps)
    {
        NeedImage(flag, xs, xt, ns, nt, cs, ct, n);
        rows.Need(n, nameof(rows));
        Interlocked.Increment(ref SkdRuns.Direct);
        dev.Launch(K<T>.SkdDirectRows, LaunchShape.Extent1(n), flag, xs, xt, ns, nt, rows, cs, ct, n, offset ? eps : 0.0, eps);
    }

    /// <summary>The fallback's gradient on the node columns [p0, p0 + m) of one image, when <paramref name="flag"/> is
    /// non-zero: d [n, m] = those columns of D (scratch, float64), then for each side given (a non-empty
    /// <paramref name="gs"/> / <paramref name="gt"/>) its ∂/∂x̂ᵀ up to the factor 4·upstream/(B·N²), Σ_q x̂_q D[q, p]
    /// for the student and its negative for the teacher, written into columns [gOff, gOff + m) of g [c, gStride]
    /// (float64). With the flag zero nothing is written: g keeps the Gram form's values. Up to three launches.</summary>
    public static void DirectHatGrads(IKdDevice dev, Buf<double> flag, Buf<T> xs, Buf<T> xt, Buf<double> ns, Buf<double> nt, Buf<double> d,
        Buf<double> gs, Buf<double> gt, int cs, int ct, int n, int p0, int m, int gStride, int gOff, bool offset, double eps)
    {
        NeedImage(flag, xs, xt, ns, nt, cs, ct, n);
        if (p0 < 0 || m < 1 || p0 + m > n) throw new ArgumentException($"columns [{p0}, {p0 + m}) outside {n} nodes.", nameof(p0));
        if (gOff < 0 || gOff + m > gStride) throw new ArgumentException($"columns [{gOff}, {gOff + m}) outside a gradient row of {gStride}.", nameof(gOff));
        d.Need((long)n * m, nameof(d));
        if (gs.Length != 0) gs.Need((long)cs * gStride, nameof(gs));
        if (gt.Length != 0) gt.Need((long)ct * gStride, nameof(gt));
        Interlocked.Increment(ref SkdRuns.Direct);
        double add = offset ? eps : 0.0;
        dev.Launch(K<T>.SkdDirectColumns, LaunchShape.Extent1((long)n * m), flag, xs, xt, ns, nt, d, cs, ct, n, p0, m, add, eps);
        if (gs.Length != 0) dev.Launch(K<T>.SkdDirectHatGrad, LaunchShape.Extent1((long)cs * m), flag, xs, ns, d, gs, n, m, gStride, gOff, 1.0, add, eps);
        if (gt.Length != 0) dev.Launch(K<T>.SkdDirectHatGrad, LaunchShape.Extent1((long)ct * m), flag, xt, nt, d, gt, n, m, gStride, gOff, -1.0, add, eps);
    }

    static void NeedImage(Buf<double> flag, Buf<T> xs, Buf<T> xt, Buf<double> ns, Buf<double> nt, int cs, int ct, int n)
    {
        if (cs < 1 || ct < 1 || n < 1) throw new ArgumentException($"an image of {cs} | {ct} channels and {n} nodes.", nameof(n));
        flag.Need(1, nameof(flag));
        xs.Need((long)cs * n, nameof(xs));
        xt.Need((long)ct * n, nameof(xt));
        ns.Need(n, nameof(ns));
        nt.Need(n, nameof(nt));
    }
}

/// <summary>Launch sequences of <see cref="SkdPrograms{T}"/> run so far (both element types): lets the tests see that a
/// program path really ran.</summary>
public static class SkdRuns
{
    /// <summary>Pixel-wise forwards, node normalisations and the pair-wise direct fallback's launches.</summary>
    public static long Pixelwise, Nodes, Direct;
}
