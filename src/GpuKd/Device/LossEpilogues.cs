using GpuKd.Kernels.Maths;
using System.Numerics;
using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Ilgpu;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>The scalars of the IRG edge epilogues (see <see cref="EdgeArgs{T}"/>).</summary>
internal readonly record struct EdgeScalars(double InvMSelf, double InvMOther, double Clamp, double Scale = 0, double Max = 0, double MaxBarPerTie = 0)
{
    public EdgeArgs<T> For<T>(Tensor xs, Tensor xo) where T : unmanaged, IFloatingPointIeee754<T> => new()
    {
        N = (int)xs.shape[0], DSelf = (int)xs.shape[1], DOther = (int)xo.shape[1],
        Clamp = T.CreateTruncating(Clamp), Tau = CpuPairDistance.Tau<T>(), Scale = T.CreateTruncating(Scale),
    };

    public EdgeMax<T> Maxima<T>() where T : unmanaged, IFloatingPointIeee754<T> => new()
    {
        InvMSelf = T.CreateTruncating(InvMSelf), InvMOther = T.CreateTruncating(InvMOther),
        Max = T.CreateTruncating(Max), MaxBarPerTie = T.CreateTruncating(MaxBarPerTie),
    };
}

/// <summary>The CC kernel function as the kernels take it: kind (0 Taylor, 1 RBF, 2 bilinear, 3 raw
/// bilinear), Taylor order, t = 2γ and c0 = e^{−2γ}.</summary>
internal readonly record struct CcSpec(int Kind, int Order, double T, double C0)
{
    public static CcSpec Of(CcKernel kernel, double gamma, int order) => new((int)kernel, order, 2 * gamma, Math.Exp(-2 * gamma));
}

/// <summary>
/// The CPU fast path's loss epilogues: SIMD C# over the tensors' memory (<c>kernels/Cpu</c>). Each reads the Gram
/// matrices the forward made and writes either b per-row partial sums of the loss or the b×b Ḡ that one product turns
/// into the feature gradient. Inputs are contiguous CPU tensors of one dtype. (Devices run the programs instead.)
/// </summary>
internal sealed unsafe class CpuLossEpilogues
{
    public static readonly CpuLossEpilogues Instance = new();

    static T* P<T>(Tensor t) where T : unmanaged => TensorMemory.Ptr<T>(t);

    public Tensor SpLossRows(Tensor gs, Tensor ns, Tensor gt, Tensor nt, double eps)
    {
        int n = (int)gs.shape[0];
        var partial = empty(n, dtype: gs.dtype);
        if (gs.dtype == ScalarType.Float32) CpuSp.LossRows(P<float>(gs), P<float>(ns), P<float>(gt), P<float>(nt), P<float>(partial), n, (float)eps);
        else CpuSp.LossRows(P<double>(gs), P<double>(ns), P<double>(gt), P<double>(nt), P<double>(partial), n, eps);
        return partial;
    }

    public Tensor SpBackward(Tensor gself, Tensor nself, Tensor gother, Tensor nother, double eps, double scale)
    {
        int n = (int)gself.shape[0];
        var gbar = empty_like(gself);
        if (gself.dtype == ScalarType.Float32)
            CpuSp.BackwardRows(P<float>(gself), P<float>(nself), P<float>(gother), P<float>(nother), P<float>(gbar), n, (float)eps, (float)scale);
        else
            CpuSp.BackwardRows(P<double>(gself), P<double>(nself), P<double>(gother), P<double>(nother), P<double>(gbar), n, eps, scale);
        return gbar;
    }

    public Tensor CcLossRows(Tensor aS, Tensor aT, CcSpec f)
    {
        int n = (int)aS.shape[0];
        var partial = empty(n, dtype: aS.dtype);
        if (aS.dtype == ScalarType.Float32) CpuCc.LossRows(P<float>(aS), P<float>(aT), P<float>(partial), n, f.Kind, f.Order, (float)f.T, (float)f.C0);
        else CpuCc.LossRows(P<double>(aS), P<double>(aT), P<double>(partial), n, f.Kind, f.Order, f.T, f.C0);
        return partial;
    }

    public Tensor CcBackward(Tensor aSelf, Tensor aOther, CcSpec f, double scale)
    {
        int n = (int)aSelf.shape[0];
        var abar = empty_like(aSelf);
        if (aSelf.dtype == ScalarType.Float32) CpuCc.Backward(P<float>(aSelf), P<float>(aOther), P<float>(abar), n, f.Kind, f.Order, (float)f.T, (float)f.C0, (float)scale);
        else CpuCc.Backward(P<double>(aSelf), P<double>(aOther), P<double>(abar), n, f.Kind, f.Order, f.T, f.C0, scale);
        return abar;
    }

    /// <summary>CC's widened float32 backward epilogue from the double cosines of both sides (bit-symmetric) and the self
    /// side's norms: (h = Ḡ rounded once to float32 [n, n], the row sums of Ḡ + Ḡᵀ [n] in double); see <see cref="CpuCc.WideBackward"/>.</summary>
    public (Tensor H, Tensor RowSums) CcWideBackward(Tensor aSelf, Tensor aOther, Tensor norms, CcSpec f, double scale, double eps)
    {
        int n = (int)aSelf.shape[0];
        var h = empty(new long[] { n, n }, dtype: ScalarType.Float32);
        var rowSums = empty(n, dtype: ScalarType.Float64);
        CpuCc.WideBackward(P<double>(aSelf), P<double>(aOther), P<double>(norms), P<float>(h), P<double>(rowSums), n, f.Kind, f.Order, f.T, f.C0, scale, eps);
        return (h, rowSums);
    }

    public (Tensor RowMax, Tensor RowCount) EdgeRowMax(Tensor g, Tensor x, double clamp)
    {
        int n = (int)g.shape[0];
        var rowMax = empty(n, dtype: g.dtype);
        var rowCount = empty(n, dtype: g.dtype);
        var e = new EdgeScalars(0, 0, clamp);
        if (g.dtype == ScalarType.Float32) CpuEdge.RowMax(P<float>(g), P<float>(x), P<float>(rowMax), P<float>(rowCount), e.For<float>(x, x));
        else CpuEdge.RowMax(P<double>(g), P<double>(x), P<double>(rowMax), P<double>(rowCount), e.For<double>(x, x));
        return (rowMax, rowCount);
    }

    public Tensor EdgeLossRows(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e)
    {
        var partial = empty(gs.shape[0], dtype: gs.dtype);
        if (gs.dtype == ScalarType.Float32) CpuEdge.LossRows(P<float>(gs), P<float>(xs), P<float>(go), P<float>(xo), P<float>(partial), e.For<float>(xs, xo), e.Maxima<float>());
        else CpuEdge.LossRows(P<double>(gs), P<double>(xs), P<double>(go), P<double>(xo), P<double>(partial), e.For<double>(xs, xo), e.Maxima<double>());
        return partial;
    }

    public Tensor EdgeDotRows(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e)
    {
        var partial = empty(gs.shape[0], dtype: gs.dtype);
        if (gs.dtype == ScalarType.Float32) CpuEdge.DotRows(P<float>(gs), P<float>(xs), P<float>(go), P<float>(xo), P<float>(partial), e.For<float>(xs, xo), e.Maxima<float>());
        else CpuEdge.DotRows(P<double>(gs), P<double>(xs), P<double>(go), P<double>(xo), P<double>(partial), e.For<double>(xs, xo), e.Maxima<double>());
        return partial;
    }

    public Tensor EdgeBackward(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e)
    {
        var gbar = empty_like(gs);
        if (gs.dtype == ScalarType.Float32) CpuEdge.Backward(P<float>(gs), P<float>(xs), P<float>(go), P<float>(xo), P<float>(gbar), e.For<float>(xs, xo), e.Maxima<float>());
        else CpuEdge.Backward(P<double>(gs), P<double>(xs), P<double>(go), P<double>(xo), P<double>(gbar), e.For<double>(xs, xo), e.Maxima<double>());
        return gbar;
    }
}
