using GpuKd.Device;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// G = XXᵀ, optionally with SP-KD row normalisation G_i ← G̃_i / max(‖G̃_i‖, 1e-12).
/// Backward: Ḡ̃_i = (Ḡ_i − G_i(G_i·Ḡ_i))/‖G̃_i‖ (0 for rows at the clamp), X̄ = (Ḡ̃ + Ḡ̃ᵀ)X.
/// Saved: X (the input, no copy when contiguous), and for the normalised form G and the row norms.
/// </summary>
internal sealed class GramMatrix : autograd.SingleTensorFunction<GramMatrix>
{
    const double Eps = 1e-12;

    public override string Name => "GpuKdGramMatrix";

    public static Tensor Apply(Tensor x, bool normalizeRows)
    {
        Validate.Features(x, nameof(x));
        // Row-normalised: scale-free, so huge inputs are brought into range (Scaling).
        // The raw Gram is left alone: where its entries exceed the dtype's range the value is honestly non-finite
        // (its gradient (W+Wᵀ)X stays finite), and rescaling it would push the backward's 1/s² past the range.
        return apply(normalizeRows ? Scaling.Invariant(x) : x, normalizeRows);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        bool normalize = (bool)vars[1];
        using var scope = NewDisposeScope();
        if (KdRuntime.Programs(x) is { } dev)
        {
            OpBase.SaveInput(ctx, x, null);
            OpBase.SaveDevice(ctx, dev);
            ctx.save_data("normalize", normalize);
            return OpBase.ByType(x, () => OnDevice<float>(dev, ctx, x, normalize), () => OnDevice<double>(dev, ctx, x, normalize)).MoveToOuterDisposeScope();
        }
        OpBase.SaveDevice(ctx, null);
        var backend = CpuBackend.Instance;
        var rows = OpBase.Rows(x);
        var g = backend.Gram2(rows);   // mm + the bit-symmetric mirror: no batch dimension, no copy
        ctx.save_data("normalize", normalize);
        OpBase.SaveInput(ctx, x, backend);
        if (normalize)
        {
            var norms = backend.RowNorms(g);
            var result = backend.ScaleRows(g, norms, Eps);
            // result is saved and returned: moved out once (a second move would take it past the caller's scope).
            ctx.save_for_backward([rows.MoveToOuterDisposeScope(), result.MoveToOuterDisposeScope(), norms.MoveToOuterDisposeScope()]);
            return result;   // a CPU tensor, like x (OpBase.Rows checked)
        }
        ctx.save_for_backward([rows.MoveToOuterDisposeScope()]);
        return g.MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        if (!OpBase.Needs(ctx)) return [null!, null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        if (OpBase.ProgramDevice(ctx) is { } dev)
            return [OpBase.Like(ctx, OpBase.ByType(saved[0], () => BackwardOnDevice<float>(dev, ctx, saved, grad), () => BackwardOnDevice<double>(dev, ctx, saved, grad)))
                .MoveToOuterDisposeScope(), null!];
        var rows = saved[0];
        var backend = OpBase.Backend(ctx);
        var gbar = OpBase.Upstream(grad, rows.dtype);
        if ((bool)ctx.get_data("normalize"))
            gbar = backend.NormalizeRowsBackward(gbar, saved[1], saved[2], Eps);
        var xbar = backend.SymProduct2(gbar, rows);
        return [OpBase.Like(ctx, xbar).MoveToOuterDisposeScope(), null!];
    }

    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor x, bool normalize)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var rows = OpBase.DeviceRows(x);
        int b = (int)rows.shape[0], d = (int)rows.shape[1];
        var (g, gb) = dev.Keep<T>(b, b);
        var (norms, nb) = normalize ? dev.Keep<T>(b) : (g, gb);
        var (result, rb) = normalize ? dev.Keep<T>(b, b) : (g, gb);
        using (dev.Sequence()) RelationPrograms<T>.GramForward(dev, dev.Bind<T>(rows), gb, nb, rb, b, d, normalize, Eps);
        // result is returned (the caller moves it out of the scope); the others only saved. Moving a tensor twice would
        // take it past the user's scope.
        rows.MoveToOuterDisposeScope();
        if (!ReferenceEquals(norms, result)) norms.MoveToOuterDisposeScope();
        ctx.save_for_backward([rows, result, norms]);
        return result;
    }

    static Tensor BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> saved, Tensor grad)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Tensor rows = saved[0], result = saved[1], norms = saved[2];
        int b = (int)rows.shape[0], d = (int)rows.shape[1];
        var gbar = grad.to(TorchDevice.DType<T>()).contiguous();
        var (xbar, xb) = dev.Keep<T>(b, d);
        using (dev.Sequence())
            RelationPrograms<T>.GramBackward(dev, dev.Bind<T>(gbar), dev.Bind<T>(rows), dev.Bind<T>(result), dev.Bind<T>(norms), xb, b, d,
                (bool)ctx.get_data("normalize"), Eps);
        return xbar;
    }
}
