using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Launch;

namespace GpuKd.Kernels.Programs;

/// <summary>The float32 rows a widened Gram keeps for its backward: the centred rows Xc [b, d] and the column means μ [d].</summary>
public readonly record struct WideRows(Buf<float> Xc, Buf<float> Mean);

/// <summary>
/// The widened float32 Gram of the similarity losses (issue 15 §3; the device twin of the CPU path's
/// <c>OpBase.WidenedGram</c>): X = Xc + 1μᵀ with μ the column means, so G = XXᵀ = XcXcᵀ + m1ᵀ + 1mᵀ + |μ|², m = Xcμ.
/// XcXcᵀ is the float32 product (its diagonal replaced by the squared norms summed in double); m, |μ|² and G are
/// double. When rows share a large offset or direction, G's information lies in XcXcᵀ, a small part of each entry
/// that a float32 G rounds away. An exactly zero input row keeps an exactly zero row and column of G (the reconstruction
/// would leave rounding noise that the losses' row normalisations blow up). Extra: O(bD) work and b² doubles beside the
/// float32 product.
/// </summary>
public static class Widened
{
    /// <summary>The gate: rows are centred only when |μ|² &gt; OffsetRatio·(mean ‖x‖² − |μ|²) (the CPU path's
    /// <c>OpBase.WidenOffsetRatio</c> is this constant).</summary>
    public const double OffsetRatio = 4;

    /// <summary>g [b, b] (double) = XXᵀ of the float32 rows x [b, d]; writes Xc and μ to <paramref name="rows"/>. The
    /// centring is gated on the device (<see cref="WideKernels.OffsetGate"/>): rows without a large shared offset keep
    /// μ = 0, Xc = X (the plain float32 Gram with a double diagonal) — no host read decides it.</summary>
    public static void Gram(IKdDevice dev, Buf<float> x, WideRows rows, Buf<double> g, int b, int d)
    {
        x.Need((long)b * d, nameof(x));
        rows.Xc.Need((long)b * d, "xc");
        rows.Mean.Need(d, "mean");
        g.Need((long)b * b, nameof(g));
        Buf<double> norms = dev.Alloc<double>(b), dots = dev.Alloc<double>(b), mu2 = dev.Alloc<double>(1), inputNorms = dev.Alloc<double>(b);
        dev.Launch(K<float>.ColumnMeans, LaunchShape.Extent1(d), x, rows.Mean, b, d, 1f / b);
        dev.Launch(K<float>.WideSquaredNorms, LaunchShape.Extent1(b), x, inputNorms, d);   // = 0 exactly for a zero input row
        dev.Launch(K<float>.WideSquaredNorms, LaunchShape.Extent1(1), rows.Mean, mu2, d);
        dev.Launch(K<float>.WideOffsetGate, LaunchShape.Extent1(1), inputNorms, mu2, b, OffsetRatio);
        dev.Launch(K<float>.WideGateMean, LaunchShape.Extent1(d), rows.Mean, mu2);
        dev.Launch(K<float>.SubtractColumnMeans, LaunchShape.Extent1((long)b * d), x, rows.Mean, rows.Xc, d);
        var c = dev.Alloc<float>((long)b * b);
        Products<float>.Gram(dev, rows.Xc, c, 1, b, d);
        dev.Launch(K<float>.WideSquaredNorms, LaunchShape.Extent1(b), rows.Xc, norms, d);
        dev.Launch(K<float>.WideMeanDots, LaunchShape.Extent1(b), rows.Xc, rows.Mean, dots, d);
        dev.Launch(K<float>.WideAssembleGram, LaunchShape.Extent2(b, b), c, norms, dots, mu2, inputNorms, g, b);
    }

    /// <summary>x̄ [b, d] = (Ḡ + Ḡᵀ)X for a double Ḡ [b, b] and X = Xc + 1μᵀ: the float32 product (Ḡ + Ḡᵀ)Xc (Ḡ + Ḡᵀ
    /// rounded once) plus the row sums of Ḡ + Ḡᵀ (double) times μ.</summary>
    public static void SymProduct(IKdDevice dev, Buf<double> gbar, WideRows rows, Buf<float> xbar, int b, int d)
    {
        gbar.Need((long)b * b, nameof(gbar));
        var m = dev.Alloc<float>((long)b * b);
        var sums = dev.Alloc<double>(b);
        dev.Launch(K<float>.WideSymmetricHalf, LaunchShape.Extent2(b, b), gbar, m, b);
        dev.Launch(K<float>.WideSymmetricRowSums, LaunchShape.Extent1(b), gbar, sums, b);
        Products<float>.SymProduct(dev, m, rows.Xc, xbar, 1, b, d);
        dev.Launch(K<float>.WideAddRowOuter, LaunchShape.Extent1((long)b * d), xbar, sums, rows.Mean, d);
    }

    /// <summary>The float32 view of a T buffer where T is float (the programs' widened branches).</summary>
    internal static Buf<float> F<T>(Buf<T> b) where T : unmanaged => (Buf<float>)(object)b;

    /// <summary>The float64 view of a T buffer where T is double (the programs' plain branches).</summary>
    internal static Buf<double> D<T>(Buf<T> b) where T : unmanaged => (Buf<double>)(object)b;
}
