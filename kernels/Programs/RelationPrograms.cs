using System.Numerics;
using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Launch;

namespace GpuKd.Kernels.Programs;

/// <summary>
/// The relation ops' launch sequences (Gram, cosine-similarity matrix, pairwise distances, triplet angles),
/// written once: the TorchSharp ops (CUDA in place, or ILGPU's CPU accelerator) and the GPU harness all run
/// these. The caller allocates outputs and what the backward needs; programs allocate only temporaries.
/// Gradients reach these ops as full tensors (ḡ, ā, d̄, r̄), so their backward takes the upstream as a buffer.
/// </summary>
public static class RelationPrograms<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>G = XXᵀ of x [b, d] into g [b, b]; with <paramref name="normalize"/> also norms [b] of G's rows and
    /// the row-normalised result into <paramref name="result"/> (else result is g).</summary>
    public static void GramForward(IKdDevice dev, Buf<T> x, Buf<T> g, Buf<T> norms, Buf<T> result, int b, int d, bool normalize, double eps)
    {
        Products<T>.Gram(dev, x, g, 1, b, d);
        if (!normalize) return;
        Rows<T>.Norms(dev, g, norms, b, b);
        Rows<T>.Scale(dev, g, norms, result, b, b, eps);
    }

    /// <summary>X̄ = (W + Wᵀ)X with W = ḡ (raw) or the normalisation's backward of ḡ; a b×b temporary when normalised.</summary>
    public static void GramBackward(IKdDevice dev, Buf<T> gbar, Buf<T> x, Buf<T> result, Buf<T> norms, Buf<T> xbar, int b, int d, bool normalize, double eps)
    {
        var w = gbar;
        if (normalize)
        {
            w = dev.Alloc<T>((long)b * b);
            Rows<T>.NormalizeBackward(dev, gbar, result, norms, w, b, b, eps);
        }
        Products<T>.SymProduct(dev, w, x, xbar, 1, b, d);
    }

    /// <summary>Cosine-similarity matrices of x [batch, n, c]: norms [batch·n], unit rows [batch·n, c], a [batch, n, n].</summary>
    public static void CosineForward(IKdDevice dev, Buf<T> x, Buf<T> norms, Buf<T> unit, Buf<T> a, int batch, int n, int c, double eps)
    {
        int rows = checked(batch * n);
        Rows<T>.Norms(dev, x, norms, rows, c);
        Rows<T>.Scale(dev, x, norms, unit, rows, c, eps);
        Products<T>.Gram(dev, unit, a, batch, n, c);
    }

    /// <summary>x̄ from ā [batch, n, n]: (Ā + Āᵀ)Û per batch item, then the normalisation's backward (a [batch·n, c] temporary).</summary>
    public static void CosineBackward(IKdDevice dev, Buf<T> abar, Buf<T> unit, Buf<T> norms, Buf<T> xbar, int batch, int n, int c, double eps)
    {
        var unitBar = dev.Alloc<T>((long)batch * n * c);
        Products<T>.SymProduct(dev, abar, unit, unitBar, batch, n, c);
        Rows<T>.NormalizeBackward(dev, unitBar, unit, norms, xbar, checked(batch * n), c, eps);
    }

    /// <summary>Centred rows xc [b, d] and their Gram g [b, b]: the start of every translation-invariant relation.</summary>
    public static void CentredGram(IKdDevice dev, Buf<T> x, Buf<T> xc, Buf<T> g, int b, int d)
    {
        Rows<T>.Centre(dev, x, xc, b, d);
        Products<T>.Gram(dev, xc, g, 1, b, d);
    }

    /// <summary>RKD pdist of x [b, d]: xc [b, d] (saved), dist [b, b]; the Gram is a b×b temporary.</summary>
    public static void DistanceForward(IKdDevice dev, Buf<T> x, Buf<T> xc, Buf<T> dist, int b, int d, bool squared, double clamp)
    {
        var g = dev.Alloc<T>((long)b * b);
        CentredGram(dev, x, xc, g, b, d);
        Distances(dev, g, xc, dist, b, d, squared, clamp);
    }

    /// <summary>dist [b, b] from the Gram g of the centred rows xc.</summary>
    public static void Distances(IKdDevice dev, Buf<T> g, Buf<T> xc, Buf<T> dist, int b, int d, bool squared, double clamp)
        => dev.Launch(K<T>.DistanceForward(squared), LaunchShape.Extent2(b, b), g.Need((long)b * b, nameof(g)), xc.Need((long)b * d, nameof(xc)),
                      dist.Need((long)b * b, nameof(dist)), b, d, K<T>.C(clamp), CpuPairDistance.Tau<T>());

    /// <summary>Ḡ [b, b] from d̄ and the forward's distances (clamp: the forward's clamp on the squared distance).</summary>
    public static void DistanceGbar(IKdDevice dev, Buf<T> dbar, Buf<T> dist, Buf<T> gbar, int b, bool squared, double clamp)
        => dev.Launch(K<T>.DistanceBackward(squared), LaunchShape.Extent1(b), dbar.Need((long)b * b, nameof(dbar)), dist.Need((long)b * b, nameof(dist)),
                      gbar.Need((long)b * b, nameof(gbar)), b, squared ? K<T>.C(clamp) : T.Sqrt(K<T>.C(clamp)));

    /// <summary>x̄ [b, d] of pdist from d̄ [b, b]: one b×b temporary (Ḡ), then (Ḡ + Ḡᵀ)Xc.</summary>
    public static void DistanceBackward(IKdDevice dev, Buf<T> dbar, Buf<T> xc, Buf<T> dist, Buf<T> xbar, int b, int d, bool squared, double clamp)
    {
        var gbar = dev.Alloc<T>((long)b * b);
        DistanceGbar(dev, dbar, dist, gbar, b, squared, clamp);
        Products<T>.SymProduct(dev, gbar, xc, xbar, 1, b, d);
    }

    /// <summary>Leg tables inv, ginv [b, b] from the Gram g of the centred rows xc. Float32 (issue 15): the leg lengths in
    /// double from the double squared norms and the float32 Gram's off-diagonal, then g replaced in place by the pseudo-Gram
    /// of <see cref="Maths.AngleMath"/> (diagonal = those norms rounded once, off-diagonal shifted by their low parts:
    /// the same angles and distances, no coherent diagonal rounding) — the O(b³) passes that follow stay float32.</summary>
    public static void Legs(IKdDevice dev, Buf<T> g, Buf<T> xc, Buf<T> inv, Buf<T> ginv, int b, int d, double tiny)
    {
        g.Need((long)b * b, nameof(g)); xc.Need((long)b * d, nameof(xc)); inv.Need((long)b * b, nameof(inv)); ginv.Need((long)b * b, nameof(ginv));
        if (K<T>.Widened)
        {
            var norms = dev.Alloc<double>(b);
            dev.Launch(K<T>.WideSquaredNorms, LaunchShape.Extent1(b), xc, norms, d);
            dev.Launch(K<T>.WideLegs, LaunchShape.Extent2(b, b), g, xc, norms, inv, ginv, b, d, tiny, (double)CpuPairDistance.Tau<float>());
            dev.Launch(K<T>.WideAngleGram, LaunchShape.Extent2(b, b), g, norms, b);   // after the legs, which read G's off-diagonal
        }
        else dev.Launch(K<T>.Legs, LaunchShape.Extent2(b, b), g, xc, inv, ginv, b, d, K<T>.C(tiny), CpuPairDistance.Tau<T>());
    }

    /// <summary>x̄ of an angle op on 1-D rows: exactly 0 (collinear points: every angle is locally constant), carrying
    /// the NaN/Inf of <paramref name="x"/>, <paramref name="y"/> and the upstream (0·Σ of each).</summary>
    public static void ZeroAngleGradient(IKdDevice dev, Buf<T> x, Buf<T> y, Buf<T> xbar, int b)
    {
        Buf<T> a = dev.Alloc<T>(1), c = dev.Alloc<T>(1);
        Rows<T>.Total(dev, x, a, b, checked((int)(x.Length / b)), 0.0);
        Rows<T>.Total(dev, y, c, b, checked((int)(y.Length / b)), 0.0);
        dev.Launch(K<T>.FillSum, LaunchShape.Extent1(xbar.Length), xbar, a, c);
    }

    /// <summary>Triplet angles [b, b, b] of x [b, d]: saved xc [b, d], g, inv, ginv [b, b].</summary>
    public static void AnglesForward(IKdDevice dev, Buf<T> x, Buf<T> xc, Buf<T> g, Buf<T> inv, Buf<T> ginv, Buf<T> angles, int b, int d, double tiny)
    {
        CentredGram(dev, x, xc, g, b, d);
        Legs(dev, g, xc, inv, ginv, b, d, tiny);
        dev.Launch(K<T>.AngleForward, LaunchShape.Extent2(b, b), g, inv, angles.Need((long)b * b * b, nameof(angles)), b);
    }

    /// <summary>x̄ [b, d] from the upstream r̄ [b, b, b]: the three angle passes (four b×b temporaries and Ḡ), then one product.</summary>
    public static void AnglesBackward(IKdDevice dev, Buf<T> rbar, Buf<T> xc, Buf<T> g, Buf<T> inv, Buf<T> ginv, Buf<T> xbar, int b, int d)
    {
        rbar.Need((long)b * b * b, nameof(rbar));
        if (d == 1)
        {
            // 1-D rows: every angle is locally constant, the exact gradient is 0 (0·Σ carries NaN/Inf of xc and r̄).
            ZeroAngleGradient(dev, xc, rbar, xbar, b);
            return;
        }
        var gbar = dev.Alloc<T>((long)b * b);
        AnglePasses(dev, g, inv, ginv, rbar, g, inv, fromLoss: false, T.Zero, gbar, b);
        Products<T>.SymProduct(dev, gbar, xc, xbar, 1, b, d);
    }

    /// <summary>Ḡ [b, b] of the angles: row pass, apex pass, assembly (AngleKernels). The triplet_angles op reads ∂L/∂ψ
    /// from rbar (<see cref="Ilgpu.AngleKernels.FromTensor{T}"/>); the RKD angle loss recomputes it as scale·clamp(ψ − ψ', −1, 1)
    /// from the other side's tables gO, invO (<see cref="Ilgpu.AngleKernels.FromLoss{T}"/>, which also halves the row pass by ψ_abc = ψ_acb).</summary>
    public static void AnglePasses(IKdDevice dev, Buf<T> g, Buf<T> inv, Buf<T> ginv, Buf<T> rbar, Buf<T> gO, Buf<T> invO, bool fromLoss, T scale, Buf<T> gbar, int b)
    {
        long bb = (long)b * b;
        foreach (var (v, name) in new[] { (g, nameof(g)), (inv, nameof(inv)), (ginv, nameof(ginv)), (gO, nameof(gO)), (invO, nameof(invO)), (gbar, nameof(gbar)) })
            v.Need(bb, name);
        Buf<T> s1 = dev.Alloc<T>(bb), s2 = dev.Alloc<T>(bb), s3 = dev.Alloc<T>(bb), t = dev.Alloc<T>(bb);
        dev.Launch(fromLoss ? K<T>.AngleRowPassLoss : K<T>.AngleRowPassTensor, LaunchShape.Extent2(b, b), g, inv, ginv, rbar, gO, invO, s1, s2, t, b, scale);
        dev.Launch(fromLoss ? K<T>.AngleApexPassLoss : K<T>.AngleApexPassTensor, LaunchShape.Extent2(b, b), g, inv, ginv, rbar, gO, invO, s3, b, scale);
        dev.Launch(K<T>.AngleAssemble, LaunchShape.Extent1(b), ginv, s1, s2, s3, t, gbar, b);
    }
}
