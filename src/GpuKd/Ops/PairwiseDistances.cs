using GpuKd.Device;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// RKD pdist on centred features: Xc = X − mean, G = XcXcᵀ, q_ij = G_ii + G_jj − 2G_ij
/// clamped at 1e-12, √ unless squared, zero diagonal. Backward: the distance epilogue's
/// backward gives Ḡ, then X̄ = (Ḡ+Ḡᵀ)Xc; the centring's backward is a no-op because the
/// rows of Ḡ+Ḡᵀ sum to zero (translation invariance). Saved: Xc and the output.
/// </summary>
internal sealed class PairwiseDistances : autograd.SingleTensorFunction<PairwiseDistances>
{
    internal const double Clamp = 1e-12;

    public override string Name => "GpuKdPairwiseDistances";

    public static Tensor Apply(Tensor x, bool squared)
    {
        Validate.Features(x, nameof(x));
        // d(x) = s·d(x/s) for a power of two s: huge features give their (representable) distances. Squared
        // distances are left alone: beyond the dtype's range they are honestly non-finite (the gradient stays
        // finite), and rescaling them would push the backward's 1/s² past the range.
        if (squared) return apply(x, squared);
        if (x.device_type != DeviceType.CPU)   // CUDA: the factor stays on the device
        {
            using var fd = Scaling.DeviceFactor(x);
            return apply(x * fd, squared) / fd;
        }
        double f = Scaling.Factor(x);
        return f == 1 ? apply(x, squared) : apply(x * f, squared) / f;
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        bool squared = (bool)vars[1];
        using var scope = NewDisposeScope();
        if (KdRuntime.Programs(x) is { } dev)
        {
            OpBase.SaveInput(ctx, x, null);
            OpBase.SaveDevice(ctx, dev);
            ctx.save_data("squared", squared);
            return OpBase.ByType(x, () => OnDevice<float>(dev, ctx, x, squared), () => OnDevice<double>(dev, ctx, x, squared)).MoveToOuterDisposeScope();
        }
        OpBase.SaveDevice(ctx, null);
        var backend = CpuBackend.Instance;   // devices run the program above
        var (centred, g) = OpBase.CentredGram(backend, x);
        var dist = backend.DistanceForward(g, centred, squared, Clamp);
        OpBase.SaveInput(ctx, x, backend);
        ctx.save_data("squared", squared);
        ctx.save_for_backward([centred.MoveToOuterDisposeScope(), dist.MoveToOuterDisposeScope()]);
        return dist.to(x.device).MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        if (!OpBase.Needs(ctx)) return [null!, null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        if (OpBase.ProgramDevice(ctx) is { } dev)
            return [OpBase.Like(ctx, OpBase.ByType(saved[0], () => BackwardOnDevice<float>(dev, ctx, saved, grad), () => BackwardOnDevice<double>(dev, ctx, saved, grad)))
                .MoveToOuterDisposeScope(), null!];
        Tensor centred = saved[0], dist = saved[1];
        var backend = CpuBackend.Instance;
        var gbar = backend.DistanceBackward(OpBase.Upstream(grad, dist.dtype), dist, (bool)ctx.get_data("squared"), Clamp);
        var xbar = backend.SymProduct(gbar.unsqueeze(0), centred.unsqueeze(0)).squeeze(0);
        return [OpBase.Like(ctx, xbar).MoveToOuterDisposeScope(), null!];
    }

    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor x, bool squared)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rows = OpBase.DeviceRows(x);
        int b = (int)rows.shape[0], d = (int)rows.shape[1];
        var (xc, xcb) = dev.Keep<T>(b, d);
        var (dist, db) = dev.Keep<T>(b, b);
        using (dev.Sequence()) RelationPrograms<T>.DistanceForward(dev, dev.Bind<T>(rows), xcb, db, b, d, squared, Clamp);
        ctx.save_for_backward([xc.MoveToOuterDisposeScope(), dist]);   // dist is returned: the caller moves it out
        return dist;
    }

    static Tensor BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> saved, Tensor grad)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Tensor xc = saved[0], dist = saved[1];
        int b = (int)xc.shape[0], d = (int)xc.shape[1];
        var dbar = grad.to(TorchDevice.DType<T>()).contiguous();
        var (xbar, xb) = dev.Keep<T>(b, d);
        using (dev.Sequence())
            RelationPrograms<T>.DistanceBackward(dev, dev.Bind<T>(dbar), dev.Bind<T>(xc), dev.Bind<T>(dist), xb, b, d, (bool)ctx.get_data("squared"), Clamp);
        return xbar;
    }
}
