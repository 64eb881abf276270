using System.Numerics;
using GpuKd.Kernels.Cpu;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// The CPU fast path: libtorch GEMM for the products (one of the fastest kernels on the
/// machine), hand-written SIMD C# (<c>kernels/Cpu</c>) for the fused epilogues.
/// </summary>
internal sealed unsafe class CpuBackend
{
    public static readonly CpuBackend Instance = new();

    /// <summary>XXᵀ by libtorch, then made bit-symmetric (the epilogues rely on it to read rows only).</summary>
    public Tensor Gram(Tensor x)
    {
        var g = x.matmul(x.transpose(-1, -2)).contiguous();
        int batch = (int)g.shape[0], n = (int)g.shape[1];
        if (g.dtype == ScalarType.Float32) CpuRows.MirrorUpper(TensorMemory.Ptr<float>(g), batch, n);
        else CpuRows.MirrorUpper(TensorMemory.Ptr<double>(g), batch, n);
        return g;
    }

    /// <summary>XXᵀ of one matrix by libtorch's mm (contiguous), made bit-symmetric when asked.</summary>
    public Tensor Gram2(Tensor x, bool bitSymmetric = true)
    {
        var g = x.mm(x.t());
        if (!bitSymmetric) return g;
        int n = (int)g.shape[0];
        if (g.dtype == ScalarType.Float32) CpuRows.MirrorUpper(TensorMemory.Ptr<float>(g), 1, n);
        else CpuRows.MirrorUpper(TensorMemory.Ptr<double>(g), 1, n);
        return g;
    }

    /// <summary>
    /// The widened Gram of float32 rows x [b, D] (contiguous) as fused passes (<see cref="CpuWideGram"/>): the column means μ
    /// [D] (float32), the centred rows Xc [b, D] (float32), one float32 GEMM XcXcᵀ made bit-symmetric, and
    /// G = XcXcᵀ + m1ᵀ + 1mᵀ + |μ|² in double [b, b] with its diagonal the squared norms summed in double (exact zero rows
    /// and columns for exactly zero rows of x); when <paramref name="normalise"/>, the cosines A_ij = G_ij s_i s_j
    /// (s = 1/max(√G_ii, eps)) instead, and the norms √G_ii [b] (double; else an empty tensor). Bit-symmetric result.
    /// <paramref name="centre"/> false: μ = 0 (for rows not dominated by a shared offset, where centring buys nothing and
    /// would round away a row far smaller than μ).
    /// Extra memory: the b×b float32 product, O(b + D) vectors.
    /// </summary>
    public (Tensor Centred, Tensor Mean, Tensor Gram, Tensor Norms) WideGram(Tensor x, bool normalise, double eps, bool centre = true)
    {
        int b = (int)x.shape[0], d = (int)x.shape[1];
        var mean = empty(d, dtype: ScalarType.Float32);
        var xc = empty_like(x);
        using var stats = empty(new long[] { 5, b }, dtype: ScalarType.Float64);
        var norms = normalise ? empty(b, dtype: ScalarType.Float64) : empty(0, dtype: ScalarType.Float64);
        float* px = TensorMemory.Ptr<float>(x), pm = TensorMemory.Ptr<float>(mean), pc = TensorMemory.Ptr<float>(xc);
        double* st = TensorMemory.Ptr<double>(stats);
        double* sq = st, m = st + b, keep = st + 2 * b, diag = st + 3 * b, s = st + 4 * b;
        if (centre) CpuWideGram.ColumnMeans(px, pm, b, d);
        else new Span<float>(pm, d).Clear();   // μ = 0: Xc = X, m = 0, G = XXᵀ (its diagonal still summed in double)
        CpuWideGram.CentreRows(px, pm, pc, sq, m, keep, b, d);
        double mu2 = 0;
        for (int k = 0; k < d; k++) mu2 += (double)pm[k] * pm[k];
        CpuWideGram.Diagonal(sq, m, keep, mu2, diag, normalise ? TensorMemory.Ptr<double>(norms) : null, s, b, normalise, eps);
        using var c = Gram2(xc, bitSymmetric: true);
        var g = empty(new long[] { b, b }, dtype: ScalarType.Float64);
        CpuWideGram.Assemble(TensorMemory.Ptr<float>(c), m, keep, diag, s, mu2, TensorMemory.Ptr<double>(g), b);
        return (xc, mean, g, norms);
    }

    /// <summary>(|μ|², mean_r ‖x_r‖²) of float32 rows x [b, D] (contiguous CPU), in double, one pass (<see cref="CpuWideGram.OffsetStats"/>).</summary>
    public static (double Mu2, double MeanSq) OffsetStats(Tensor x)
        => CpuWideGram.OffsetStats(TensorMemory.Ptr<float>(x), (int)x.shape[0], (int)(x.numel() / x.shape[0]));

    /// <summary>x̄ [b, D] float32 of the widened backward from h [b, b] float32 (Ḡ's symmetric half rounded once), the row
    /// sums r [b] of Ḡ + Ḡᵀ (double), the centred rows and their mean: 2·hXc (one float32 GEMM) + rμᵀ in double, with the
    /// radial part of each row dropped where its norm exceeds eps when <paramref name="tangent"/> (<see cref="CpuWideGram.GradRows"/>).</summary>
    public Tensor WideGradRows(Tensor h, Tensor rowSums, Tensor xc, Tensor mean, Tensor norms, bool tangent, double eps)
    {
        using var p = h.mm(xc);
        var xbar = empty_like(xc);
        CpuWideGram.GradRows(TensorMemory.Ptr<float>(p), TensorMemory.Ptr<float>(xc), TensorMemory.Ptr<float>(mean), TensorMemory.Ptr<double>(rowSums),
            tangent ? TensorMemory.Ptr<double>(norms) : null, TensorMemory.Ptr<float>(xbar), (int)xc.shape[0], (int)xc.shape[1], tangent, eps);
        return xbar;
    }

    public Tensor SymProduct2(Tensor m, Tensor x)
    {
        using var sym = m + m.t();
        return sym.mm(x);
    }

    public Tensor SymProductOfSymmetric(Tensor m, Tensor x) => m.mm(x).mul_(2);

    public Tensor SymProduct(Tensor m, Tensor x)
    {
        using var sym = m + m.transpose(-1, -2);
        return sym.matmul(x);
    }

    public Tensor RowNorms(Tensor x)
    {
        var norms = empty(x.shape[0], dtype: x.dtype);
        int rows = (int)x.shape[0], d = (int)x.shape[1];
        if (x.dtype == ScalarType.Float32) CpuRows.RowNorms(TensorMemory.Ptr<float>(x), TensorMemory.Ptr<float>(norms), rows, d);
        else CpuRows.RowNorms(TensorMemory.Ptr<double>(x), TensorMemory.Ptr<double>(norms), rows, d);
        return norms;
    }

    public Tensor ScaleRows(Tensor x, Tensor norms, double eps)
    {
        using var denom = norms.clamp_min(eps).unsqueeze(1);
        return x / denom;
    }

    /// <summary>x / max(norms, eps) per row, one pass (<see cref="CpuRows.ScaleRows{T}"/>; the same IEEE divisions as
    /// <see cref="ScaleRows"/>'s libtorch broadcast, without its clamp and broadcast tensors).</summary>
    public Tensor ScaleRowsFused(Tensor x, Tensor norms, double eps)
    {
        var y = empty_like(x);
        int rows = (int)x.shape[0], d = (int)x.shape[1];
        if (x.dtype == ScalarType.Float32) CpuRows.ScaleRows(TensorMemory.Ptr<float>(x), TensorMemory.Ptr<float>(norms), TensorMemory.Ptr<float>(y), rows, d, (float)eps);
        else CpuRows.ScaleRows(TensorMemory.Ptr<double>(x), TensorMemory.Ptr<double>(norms), TensorMemory.Ptr<double>(y), rows, d, eps);
        return y;
    }

    public Tensor NormalizeRowsBackward(Tensor ybar, Tensor y, Tensor norms, double eps)
    {
        var xbar = empty_like(y);
        int rows = (int)y.shape[0], d = (int)y.shape[1];
        if (y.dtype == ScalarType.Float32)
            CpuRows.NormalizeRowsBackward(TensorMemory.Ptr<float>(ybar), TensorMemory.Ptr<float>(y), TensorMemory.Ptr<float>(norms), TensorMemory.Ptr<float>(xbar), rows, d, (float)eps);
        else
            CpuRows.NormalizeRowsBackward(TensorMemory.Ptr<double>(ybar), TensorMemory.Ptr<double>(y), TensorMemory.Ptr<double>(norms), TensorMemory.Ptr<double>(xbar), rows, d, eps);
        return xbar;
    }

    public Tensor Centre(Tensor x)
    {
        using var mean = x.mean([0L], keepdim: true);
        return x - mean;
    }

    public Tensor DistanceForward(Tensor g, Tensor x, bool squared, double clamp)
    {
        var dist = empty_like(g);
        int n = (int)g.shape[0], d = (int)x.shape[1];
        if (g.dtype == ScalarType.Float32) CpuDistance.Forward(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(x), TensorMemory.Ptr<float>(dist), n, d, squared, (float)clamp);
        else CpuDistance.Forward(TensorMemory.Ptr<double>(g), TensorMemory.Ptr<double>(x), TensorMemory.Ptr<double>(dist), n, d, squared, clamp);
        return dist;
    }

    public Tensor SquaredNormsWide(Tensor x)
    {
        var norms = empty(x.shape[0], dtype: ScalarType.Float64);
        CpuWide.SquaredNorms(TensorMemory.Ptr<float>(x), TensorMemory.Ptr<double>(norms), (int)x.shape[0], (int)x.shape[1]);
        return norms;
    }

    public (Tensor Inv, Tensor GInv) LegsWide(Tensor g, Tensor x, Tensor norms, double tiny)
    {
        var inv = empty_like(g);
        var ginv = empty_like(g);
        CpuWide.Legs(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(x), TensorMemory.Ptr<double>(norms), TensorMemory.Ptr<float>(inv), TensorMemory.Ptr<float>(ginv),
            (int)g.shape[0], (int)x.shape[1], tiny);
        return (inv, ginv);
    }

    /// <summary>In place: the float32 angle Gram g [n, n] → the pseudo-Gram of <c>AngleMath</c> (diagonal = the double
    /// squared norms rounded once, off-diagonal shifted by their low parts), after <see cref="LegsWide"/>.</summary>
    public void AngleGramWide(Tensor g, Tensor norms)
        => CpuWide.AngleGram(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<double>(norms), (int)g.shape[0]);

    public Tensor RowDotsWide(Tensor x, Tensor v)
    {
        var dots = empty(x.shape[0], dtype: ScalarType.Float64);
        CpuWide.RowDots(TensorMemory.Ptr<float>(x), TensorMemory.Ptr<double>(v), TensorMemory.Ptr<double>(dots), (int)x.shape[0], (int)x.shape[1]);
        return dots;
    }

    public Tensor DistanceForwardWide(Tensor g, Tensor x, Tensor norms, bool squared, double clamp)
    {
        var dist = empty_like(g, dtype: ScalarType.Float64);
        CpuWide.DistanceForward(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(x), TensorMemory.Ptr<double>(norms), TensorMemory.Ptr<double>(dist),
            (int)g.shape[0], (int)x.shape[1], squared, clamp);
        return dist;
    }

    public Tensor DistanceBackward(Tensor dbar, Tensor dist, bool squared, double clamp)
    {
        // d̄ + d̄ᵀ by libtorch's blocked transpose-add, so the kernel reads rows only.
        using var sym = (dbar + dbar.t()).contiguous();
        dbar = sym;
        var gbar = empty_like(dist);
        int n = (int)dist.shape[0];
        if (dist.dtype == ScalarType.Float32)
            CpuDistance.Backward(TensorMemory.Ptr<float>(dbar), TensorMemory.Ptr<float>(dist), TensorMemory.Ptr<float>(gbar), n, squared, ClampOut<float>(squared, clamp));
        else
            CpuDistance.Backward(TensorMemory.Ptr<double>(dbar), TensorMemory.Ptr<double>(dist), TensorMemory.Ptr<double>(gbar), n, squared, ClampOut<double>(squared, clamp));
        return gbar;
    }

    /// <summary>The forward's output value at the clamp, computed as the forward does.</summary>
    internal static T ClampOut<T>(bool squared, double clamp) where T : IFloatingPointIeee754<T>
        => squared ? T.CreateTruncating(clamp) : T.Sqrt(T.CreateTruncating(clamp));

    public (Tensor Inv, Tensor GInv) Legs(Tensor g, Tensor x, double tiny)
    {
        var inv = empty_like(g);
        var ginv = empty_like(g);
        int n = (int)g.shape[0], d = (int)x.shape[1];
        if (g.dtype == ScalarType.Float32) CpuAngles.Legs(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(x), TensorMemory.Ptr<float>(inv), TensorMemory.Ptr<float>(ginv), n, d, (float)tiny);
        else CpuAngles.Legs(TensorMemory.Ptr<double>(g), TensorMemory.Ptr<double>(x), TensorMemory.Ptr<double>(inv), TensorMemory.Ptr<double>(ginv), n, d, tiny);
        return (inv, ginv);
    }

    public Tensor AngleForward(Tensor g, Tensor inv)
    {
        long n = g.shape[0];
        var angles = empty(new[] { n, n, n }, dtype: g.dtype);
        if (g.dtype == ScalarType.Float32) CpuAngles.Forward(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(inv), TensorMemory.Ptr<float>(angles), (int)n);
        else CpuAngles.Forward(TensorMemory.Ptr<double>(g), TensorMemory.Ptr<double>(inv), TensorMemory.Ptr<double>(angles), (int)n);
        return angles;
    }

    public Tensor AngleBackward(Tensor g, Tensor inv, Tensor ginv, Tensor rbar)
    {
        long n = g.shape[0];
        using var scratch = empty(new[] { 4, n, n }, dtype: g.dtype);
        var gbar = empty_like(g);
        if (g.dtype == ScalarType.Float32) Run<float>(g, inv, ginv, rbar, scratch, gbar, (int)n);
        else Run<double>(g, inv, ginv, rbar, scratch, gbar, (int)n);
        return gbar;

        static void Run<T>(Tensor g, Tensor inv, Tensor ginv, Tensor rbar, Tensor scratch, Tensor gbar, int n)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            T* s = TensorMemory.Ptr<T>(scratch);
            long nn = (long)n * n;
            CpuAngles.Backward(TensorMemory.Ptr<T>(g), TensorMemory.Ptr<T>(inv), TensorMemory.Ptr<T>(ginv), TensorMemory.Ptr<T>(rbar),
                s, s + nn, s + 2 * nn, s + 3 * nn, TensorMemory.Ptr<T>(gbar), n);
        }
    }

    public Tensor DistanceLossPartials(Tensor d, Tensor dO, double invMu, double invMuO)
    {
        int n = (int)d.shape[0];
        var partial = empty(n, dtype: d.dtype);
        if (d.dtype == ScalarType.Float32)
            CpuDistanceLoss.Partials(TensorMemory.Ptr<float>(d), TensorMemory.Ptr<float>(dO), (float)invMu, (float)invMuO, TensorMemory.Ptr<float>(partial), n);
        else
            CpuDistanceLoss.Partials(TensorMemory.Ptr<double>(d), TensorMemory.Ptr<double>(dO), invMu, invMuO, TensorMemory.Ptr<double>(partial), n);
        return partial;
    }

    public Tensor DistanceLossBackward(Tensor d, Tensor dO, double invMu, double invMuO, double scale)
    {
        int n = (int)d.shape[0];
        var dbar = empty_like(d);
        using var rowDots = empty(n, dtype: d.dtype);
        if (d.dtype == ScalarType.Float32)
            CpuDistanceLoss.Backward(TensorMemory.Ptr<float>(d), TensorMemory.Ptr<float>(dO), (float)invMu, (float)invMuO, (float)scale, TensorMemory.Ptr<float>(dbar), TensorMemory.Ptr<float>(rowDots), n);
        else
            CpuDistanceLoss.Backward(TensorMemory.Ptr<double>(d), TensorMemory.Ptr<double>(dO), invMu, invMuO, scale, TensorMemory.Ptr<double>(dbar), TensorMemory.Ptr<double>(rowDots), n);
        return dbar;
    }

    public Tensor AngleLossPartials(Tensor g, Tensor inv, Tensor gO, Tensor invO)
    {
        var partial = empty_like(g);
        int n = (int)g.shape[0];
        if (g.dtype == ScalarType.Float32)
            CpuAngles.LossPartials(TensorMemory.Ptr<float>(g), TensorMemory.Ptr<float>(inv), TensorMemory.Ptr<float>(gO), TensorMemory.Ptr<float>(invO), TensorMemory.Ptr<float>(partial), n);
        else
            CpuAngles.LossPartials(TensorMemory.Ptr<double>(g), TensorMemory.Ptr<double>(inv), TensorMemory.Ptr<double>(gO), TensorMemory.Ptr<double>(invO), TensorMemory.Ptr<double>(partial), n);
        return partial;
    }

    public Tensor AngleLossBackward(Tensor g, Tensor inv, Tensor ginv, Tensor gO, Tensor invO, double scale)
    {
        long n = g.shape[0];
        using var scratch = empty(new[] { 4, n, n }, dtype: g.dtype);
        var gbar = empty_like(g);
        if (g.dtype == ScalarType.Float32) Run<float>(g, inv, ginv, gO, invO, (float)scale, scratch, gbar, (int)n);
        else Run<double>(g, inv, ginv, gO, invO, scale, scratch, gbar, (int)n);
        return gbar;

        static void Run<T>(Tensor g, Tensor inv, Tensor ginv, Tensor gO, Tensor invO, T scale, Tensor scratch, Tensor gbar, int n)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            T* s = TensorMemory.Ptr<T>(scratch);
            long nn = (long)n * n;
            CpuAngles.LossBackward(TensorMemory.Ptr<T>(g), TensorMemory.Ptr<T>(inv), TensorMemory.Ptr<T>(ginv),
                TensorMemory.Ptr<T>(gO), TensorMemory.Ptr<T>(invO), scale, s, s + nn, s + 2 * nn, s + 3 * nn, TensorMemory.Ptr<T>(gbar), n);
        }
    }
}
