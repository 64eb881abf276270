using System.Numerics;
using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Ilgpu;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// The fused epilogues of the losses (issue 4), beside the relation primitives of
/// <see cref="IKdBackend"/>: each reads the Gram matrices the forward made and writes either b
/// per-row partial sums of the loss or the b×b Ḡ that one <see cref="IKdBackend.SymProduct"/>
/// turns into the feature gradient. Inputs are contiguous CPU tensors of one dtype.
/// </summary>
internal interface IKdLossEpilogues
{
    /// <summary>SP: per-row Σ_j (G̃S_ij/max(nS_i,ε) − G̃T_ij/max(nT_i,ε))², [b].</summary>
    Tensor SpLossRows(Tensor gs, Tensor ns, Tensor gt, Tensor nt, double eps);

    /// <summary>SP: G̃̄ [b, b] of the side "self" for Ḡ = scale·(G^self − G^other).</summary>
    Tensor SpBackward(Tensor gself, Tensor nself, Tensor gother, Tensor nother, double eps, double scale);

    /// <summary>CC: per-row Σ_j (f(AS_ij) − f(AT_ij))², [b].</summary>
    Tensor CcLossRows(Tensor aS, Tensor aT, CcSpec f);

    /// <summary>CC: Ā [b, b] = scale·(f(A^self) − f(A^other))·f'(A^self).</summary>
    Tensor CcBackward(Tensor aSelf, Tensor aOther, CcSpec f, double scale);

    /// <summary>IRG edge: per-row max of the clamped squared distances (from the Gram g of the centred rows x) and
    /// the number of entries equal to it, [b] each.</summary>
    (Tensor RowMax, Tensor RowCount) EdgeRowMax(Tensor g, Tensor x, double clamp);

    /// <summary>IRG edge: per-row Σ_j (E^self_ij − E^other_ij)², [b].</summary>
    Tensor EdgeLossRows(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e);

    /// <summary>IRG edge: per-row Σ_j Ē_ij E^self_ij, [b].</summary>
    Tensor EdgeDotRows(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e);

    /// <summary>IRG edge: Ḡ [b, b] of the side "self".</summary>
    Tensor EdgeBackward(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e);
}

/// <summary>The scalars of the IRG edge epilogues (see <see cref="EdgeArgs{T}"/>).</summary>
internal readonly record struct EdgeScalars(double InvMSelf, double InvMOther, double Clamp, double Scale = 0, double Max = 0, double MaxBarPerTie = 0)
{
    public EdgeArgs<T> For<T>(Tensor xs, Tensor xo) where T : unmanaged, IFloatingPointIeee754<T> => new()
    {
        N = (int)xs.shape[0], DSelf = (int)xs.shape[1], DOther = (int)xo.shape[1],
        InvMSelf = T.CreateTruncating(InvMSelf), InvMOther = T.CreateTruncating(InvMOther),
        Clamp = T.CreateTruncating(Clamp), Tau = CpuPairDistance.Tau<T>(),
        Scale = T.CreateTruncating(Scale), Max = T.CreateTruncating(Max), MaxBarPerTie = T.CreateTruncating(MaxBarPerTie),
    };
}

/// <summary>The CC kernel function as the kernels take it: kind (0 Taylor, 1 RBF, 2 bilinear, 3 raw
/// bilinear), Taylor order, t = 2γ and c0 = e^{−2γ}.</summary>
internal readonly record struct CcSpec(int Kind, int Order, double T, double C0)
{
    public static CcSpec Of(CcKernel kernel, double gamma, int order) => new((int)kernel, order, 2 * gamma, Math.Exp(-2 * gamma));
}

/// <summary>Picks the epilogues that belong to a backend.</summary>
internal static class LossEpilogues
{
    public static IKdLossEpilogues For(IKdBackend backend)
        => backend is IlgpuBackend ilgpu ? new IlgpuLossEpilogues(ilgpu.Device) : CpuLossEpilogues.Instance;
}

/// <summary>The CPU fast path's epilogues: SIMD C# over the tensors' memory (<c>kernels/Cpu</c>).</summary>
internal sealed unsafe class CpuLossEpilogues : IKdLossEpilogues
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
        if (gs.dtype == ScalarType.Float32) CpuEdge.LossRows(P<float>(gs), P<float>(xs), P<float>(go), P<float>(xo), P<float>(partial), e.For<float>(xs, xo));
        else CpuEdge.LossRows(P<double>(gs), P<double>(xs), P<double>(go), P<double>(xo), P<double>(partial), e.For<double>(xs, xo));
        return partial;
    }

    public Tensor EdgeDotRows(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e)
    {
        var partial = empty(gs.shape[0], dtype: gs.dtype);
        if (gs.dtype == ScalarType.Float32) CpuEdge.DotRows(P<float>(gs), P<float>(xs), P<float>(go), P<float>(xo), P<float>(partial), e.For<float>(xs, xo));
        else CpuEdge.DotRows(P<double>(gs), P<double>(xs), P<double>(go), P<double>(xo), P<double>(partial), e.For<double>(xs, xo));
        return partial;
    }

    public Tensor EdgeBackward(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e)
    {
        var gbar = empty_like(gs);
        if (gs.dtype == ScalarType.Float32) CpuEdge.Backward(P<float>(gs), P<float>(xs), P<float>(go), P<float>(xo), P<float>(gbar), e.For<float>(xs, xo));
        else CpuEdge.Backward(P<double>(gs), P<double>(xs), P<double>(go), P<double>(xo), P<double>(gbar), e.For<double>(xs, xo));
        return gbar;
    }
}

/// <summary>The ILGPU epilogues: one kernel launch each, under the device gate.</summary>
internal sealed class IlgpuLossEpilogues(IlgpuDevice device) : IKdLossEpilogues
{
    void Run(Tensor like, Action<IlgpuBinder, IlgpuLossLaunchers<float>> f32, Action<IlgpuBinder, IlgpuLossLaunchers<double>> f64)
    {
        lock (device.Gate)
        {
            using var binder = new IlgpuBinder(device);
            if (like.dtype == ScalarType.Float32) f32(binder, IlgpuLossLaunchers<float>.For(device));
            else f64(binder, IlgpuLossLaunchers<double>.For(device));
            binder.Finish();
        }
    }

    static T C<T>(double v) where T : IFloatingPointIeee754<T> => T.CreateTruncating(v);

    public Tensor SpLossRows(Tensor gs, Tensor ns, Tensor gt, Tensor nt, double eps)
    {
        int n = (int)gs.shape[0];
        var partial = empty(n, dtype: gs.dtype);
        Run(gs, (b, k) => k.SpLossRows(b.In<float>(gs), b.In<float>(ns), b.In<float>(gt), b.In<float>(nt), b.Out<float>(partial), n, C<float>(eps)),
                (b, k) => k.SpLossRows(b.In<double>(gs), b.In<double>(ns), b.In<double>(gt), b.In<double>(nt), b.Out<double>(partial), n, eps));
        return partial;
    }

    public Tensor SpBackward(Tensor gself, Tensor nself, Tensor gother, Tensor nother, double eps, double scale)
    {
        int n = (int)gself.shape[0];
        var gbar = empty_like(gself);
        Run(gself, (b, k) => k.SpBackwardRows(b.In<float>(gself), b.In<float>(nself), b.In<float>(gother), b.In<float>(nother), b.Out<float>(gbar), n, C<float>(eps), C<float>(scale)),
                   (b, k) => k.SpBackwardRows(b.In<double>(gself), b.In<double>(nself), b.In<double>(gother), b.In<double>(nother), b.Out<double>(gbar), n, eps, scale));
        return gbar;
    }

    public Tensor CcLossRows(Tensor aS, Tensor aT, CcSpec f)
    {
        int n = (int)aS.shape[0];
        var partial = empty(n, dtype: aS.dtype);
        Run(aS, (b, k) => k.CcLossRows(b.In<float>(aS), b.In<float>(aT), b.Out<float>(partial), n, f.Kind, f.Order, C<float>(f.T), C<float>(f.C0)),
                (b, k) => k.CcLossRows(b.In<double>(aS), b.In<double>(aT), b.Out<double>(partial), n, f.Kind, f.Order, f.T, f.C0));
        return partial;
    }

    public Tensor CcBackward(Tensor aSelf, Tensor aOther, CcSpec f, double scale)
    {
        int n = (int)aSelf.shape[0];
        var abar = empty_like(aSelf);
        Run(aSelf, (b, k) => k.CcBackward(b.In<float>(aSelf), b.In<float>(aOther), b.Out<float>(abar), n, f.Kind, f.Order, C<float>(f.T), C<float>(f.C0), C<float>(scale)),
                   (b, k) => k.CcBackward(b.In<double>(aSelf), b.In<double>(aOther), b.Out<double>(abar), n, f.Kind, f.Order, f.T, f.C0, scale));
        return abar;
    }

    public (Tensor RowMax, Tensor RowCount) EdgeRowMax(Tensor g, Tensor x, double clamp)
    {
        int n = (int)g.shape[0];
        var rowMax = empty(n, dtype: g.dtype);
        var rowCount = empty(n, dtype: g.dtype);
        var e = new EdgeScalars(0, 0, clamp);
        Run(g, (b, k) => k.EdgeRowMax(b.In<float>(g), b.In<float>(x), b.Out<float>(rowMax), b.Out<float>(rowCount), e.For<float>(x, x)),
               (b, k) => k.EdgeRowMax(b.In<double>(g), b.In<double>(x), b.Out<double>(rowMax), b.Out<double>(rowCount), e.For<double>(x, x)));
        return (rowMax, rowCount);
    }

    public Tensor EdgeLossRows(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e)
    {
        var partial = empty(gs.shape[0], dtype: gs.dtype);
        Run(gs, (b, k) => k.EdgeLossRows(b.In<float>(gs), b.In<float>(xs), b.In<float>(go), b.In<float>(xo), b.Out<float>(partial), e.For<float>(xs, xo)),
                (b, k) => k.EdgeLossRows(b.In<double>(gs), b.In<double>(xs), b.In<double>(go), b.In<double>(xo), b.Out<double>(partial), e.For<double>(xs, xo)));
        return partial;
    }

    public Tensor EdgeDotRows(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e)
    {
        var partial = empty(gs.shape[0], dtype: gs.dtype);
        Run(gs, (b, k) => k.EdgeDotRows(b.In<float>(gs), b.In<float>(xs), b.In<float>(go), b.In<float>(xo), b.Out<float>(partial), e.For<float>(xs, xo)),
                (b, k) => k.EdgeDotRows(b.In<double>(gs), b.In<double>(xs), b.In<double>(go), b.In<double>(xo), b.Out<double>(partial), e.For<double>(xs, xo)));
        return partial;
    }

    public Tensor EdgeBackward(Tensor gs, Tensor xs, Tensor go, Tensor xo, EdgeScalars e)
    {
        var gbar = empty_like(gs);
        Run(gs, (b, k) => k.EdgeBackward(b.In<float>(gs), b.In<float>(xs), b.In<float>(go), b.In<float>(xo), b.Out<float>(gbar), e.For<float>(xs, xo)),
                (b, k) => k.EdgeBackward(b.In<double>(gs), b.In<double>(xs), b.In<double>(go), b.In<double>(xo), b.Out<double>(gbar), e.For<double>(xs, xo)));
        return gbar;
    }
}
