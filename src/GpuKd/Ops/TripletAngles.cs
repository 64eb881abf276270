using GpuKd.Device;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// RKD triplet angles from the Gram of centred features: ψ_abc = (G_bc + G_aa − G_ab − G_ac)
/// / (d_ab d_ac), 0 at b = a or c = a. The backward runs the three deterministic passes of
/// DESIGN §4 over the upstream b³ gradient (no further b³ buffer), then X̄ = (Ḡ+Ḡᵀ)Xc.
/// Saved: Xc, G and the two leg tables (O(bD + b²)).
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
        var backend = KdRuntime.For(x);
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
        Tensor centred = saved[0], g = saved[1], inv = saved[2], ginv = saved[3];
        var backend = OpBase.Backend(ctx);
        if (centred.shape[1] == 1) return [OpBase.Like(ctx, OneDimensionalGradient(centred, OpBase.Upstream(grad, centred.dtype), 0)).MoveToOuterDisposeScope()];
        var gbar = backend.AngleBackward(g, inv, ginv, OpBase.Upstream(grad, g.dtype));
        var xbar = backend.SymProduct(gbar.unsqueeze(0), centred.unsqueeze(0)).squeeze(0);
        return [OpBase.Like(ctx, xbar).MoveToOuterDisposeScope()];
    }
}
