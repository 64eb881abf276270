using GpuKd.Device;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// RKD triplet angles from the Gram of centred features: ψ_abc = (G_bc + G_aa − G_ab − G_ac)
/// / (d_ab d_ac), 0 at b = a or c = a. The backward runs the three deterministic passes of
/// DESIGN §4 over the upstream b³ gradient (no further b³ buffer), then X̄ = (Ḡ+Ḡᵀ)Xc.
/// Saved: Xc, G and the two leg tables (O(bD + b²)). Float32: G is the pseudo-Gram of kernels/Maths/AngleMath (the same
/// angles, its diagonal exact in float32; <see cref="OpBase.AngleTables"/>).
/// </summary>
internal sealed class TripletAngles : autograd.SingleTensorFunction<TripletAngles>
{
    /// <summary>The reference's F.normalize eps on the leg length.</summary>
    internal const double Tiny = 1e-12;

    public override string Name => "GpuKdTripletAngles";

    public static Tensor Apply(Tensor x)
    {
        Validate.Features(x, nameof(x));
        return apply(Scaling.Invariant(x));   // angles are scale-free: huge inputs brought into range
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        using var scope = NewDisposeScope();
        if (KdRuntime.Programs(x) is { } dev)
        {
            OpBase.SaveInput(ctx, x, null);
            OpBase.SaveDevice(ctx, dev);
            return OpBase.ByType(x, () => OnDevice<float>(dev, ctx, x), () => OnDevice<double>(dev, ctx, x)).MoveToOuterDisposeScope();
        }
        OpBase.SaveDevice(ctx, null);
        var backend = CpuBackend.Instance;   // devices run the program above
        var (centred, g, inv, ginv) = OpBase.AngleTables(backend, x, Tiny);
        var angles = backend.AngleForward(g, inv);
        OpBase.SaveInput(ctx, x, backend);
        ctx.save_for_backward([centred.MoveToOuterDisposeScope(), g.MoveToOuterDisposeScope(),
            inv.MoveToOuterDisposeScope(), ginv.MoveToOuterDisposeScope()]);
        return angles.to(x.device).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The input gradient of anything computed from the angles of one-dimensional rows: exactly 0. In 1-D every leg is
    /// a signed length, its unit vector ±1 (or 0 / a clamped leg, which passes no gradient), so every angle is
    /// locally constant. The Gram-form passes would return round-off there (~1e-6 in float32, where the
    /// reference's 1-D normalisation backward cancels exactly). NaN/Inf in <paramref name="x"/>,
    /// <paramref name="cO"/> or the upstream (a tensor, or a number) still give NaN.
    /// </summary>
    internal static Tensor OneDimensionalGradient(Tensor x, Tensor cO, double upstream)
    {
        using var scope = NewDisposeScope();
        var poison = (x.sum() + cO.sum()) * 0 + upstream * 0;
        return zeros_like(x).add_(poison).MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        if (!OpBase.Needs(ctx)) return [null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        if (OpBase.ProgramDevice(ctx) is { } dev)
            return [OpBase.Like(ctx, OpBase.ByType(saved[0], () => BackwardOnDevice<float>(dev, saved, grad), () => BackwardOnDevice<double>(dev, saved, grad)))
                .MoveToOuterDisposeScope()];
        Tensor centred = saved[0], g = saved[1], inv = saved[2], ginv = saved[3];
        var backend = CpuBackend.Instance;
        if (centred.shape[1] == 1) return [OpBase.Like(ctx, OneDimensionalGradient(centred, OpBase.Upstream(grad, centred.dtype), 0)).MoveToOuterDisposeScope()];
        var gbar = backend.AngleBackward(g, inv, ginv, OpBase.Upstream(grad, g.dtype));
        var xbar = backend.SymProduct(gbar.unsqueeze(0), centred.unsqueeze(0)).squeeze(0);
        return [OpBase.Like(ctx, xbar).MoveToOuterDisposeScope()];
    }

    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor x)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rows = OpBase.DeviceRows(x);
        int b = (int)rows.shape[0], d = (int)rows.shape[1];
        var (xc, xcb) = dev.Keep<T>(b, d);
        var (g, gb) = dev.Keep<T>(b, b);
        var (inv, ib) = dev.Keep<T>(b, b);
        var (ginv, gib) = dev.Keep<T>(b, b);
        var (angles, ab) = dev.Keep<T>(b, b, b);
        using (dev.Sequence()) RelationPrograms<T>.AnglesForward(dev, dev.Bind<T>(rows), xcb, gb, ib, gib, ab, b, d, Tiny);
        ctx.save_for_backward([xc.MoveToOuterDisposeScope(), g.MoveToOuterDisposeScope(), inv.MoveToOuterDisposeScope(), ginv.MoveToOuterDisposeScope()]);
        return angles;
    }

    static Tensor BackwardOnDevice<T>(TorchDevice dev, IList<Tensor> saved, Tensor grad)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Tensor xc = saved[0], g = saved[1], inv = saved[2], ginv = saved[3];
        int b = (int)xc.shape[0], d = (int)xc.shape[1];
        var rbar = grad.to(TorchDevice.DType<T>()).contiguous();
        var (xbar, xb) = dev.Keep<T>(b, d);
        using (dev.Sequence())
            RelationPrograms<T>.AnglesBackward(dev, dev.Bind<T>(rbar), dev.Bind<T>(xc), dev.Bind<T>(g), dev.Bind<T>(inv), dev.Bind<T>(ginv), xb, b, d);
        return xbar;
    }
}
