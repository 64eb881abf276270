using GpuKd.Device;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// A = X̂X̂ᵀ with x̂_i = x_i / max(‖x_i‖, eps), per batch item for [B, N, C] input.
/// Normalising before the product (as the reference does) keeps huge rows from overflowing
/// the Gram. Backward: X̂̄ = (Ā + Āᵀ)X̂, then x̄_i = (x̂̄_i − x̂_i(x̂_i·x̂̄_i))/‖x_i‖, 0 for rows
/// at the clamp. Saved: X̂ (b×D) and the norms.
/// </summary>
internal sealed class CosineSimilarityMatrix : autograd.SingleTensorFunction<CosineSimilarityMatrix>
{
    public override string Name => "GpuKdCosineSimilarityMatrix";

    public static Tensor Apply(Tensor x, double eps)
    {
        Validate.Features(x, nameof(x), minRank: 2, maxRank: 3);
        Validate.Positive(eps, nameof(eps));
        return apply(x, eps);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var x = (Tensor)vars[0];
        double eps = (double)vars[1];
        using var scope = NewDisposeScope();
        if (KdRuntime.Programs(x) is { } dev)
        {
            OpBase.SaveInput(ctx, x, null);
            OpBase.SaveDevice(ctx, dev);
            ctx.save_data("eps", eps);
            return OpBase.ByType(x, () => OnDevice<float>(dev, ctx, x, eps), () => OnDevice<double>(dev, ctx, x, eps)).MoveToOuterDisposeScope();
        }
        OpBase.SaveDevice(ctx, null);
        var backend = CpuBackend.Instance;
        var batched = x.dim() == 3 ? x : x.unsqueeze(0);
        long batch = batched.shape[0], n = batched.shape[1], c = batched.shape[2];
        var rows = OpBase.CpuOnly(batched).reshape(batch * n, c).contiguous();
        var norms = backend.RowNorms(rows);
        var unit = backend.ScaleRowsFused(rows, norms, eps);
        // One matrix: mm + the bit-symmetric mirror (no batch dimension, no copy); a batch: the batched product.
        var a = batch == 1 ? backend.Gram2(unit) : backend.Gram(unit.reshape(batch, n, c));
        OpBase.SaveInput(ctx, x, backend);
        ctx.save_data("eps", eps);
        ctx.save_for_backward([unit.MoveToOuterDisposeScope(), norms.MoveToOuterDisposeScope()]);
        var result = x.dim() == 3 && batch == 1 ? a.unsqueeze(0) : a;
        return result.MoveToOuterDisposeScope();   // a CPU tensor, like x (OpBase.CpuOnly checked)
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        if (!OpBase.Needs(ctx)) return [null!, null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        if (OpBase.ProgramDevice(ctx) is { } dev)
            return [OpBase.Like(ctx, OpBase.ByType(saved[0], () => BackwardOnDevice<float>(dev, ctx, saved, grad), () => BackwardOnDevice<double>(dev, ctx, saved, grad)))
                .MoveToOuterDisposeScope(), null!];
        Tensor unit = saved[0], norms = saved[1];
        var backend = OpBase.Backend(ctx);
        var abar = OpBase.Upstream(grad, unit.dtype);
        if (abar.dim() == 2) abar = abar.unsqueeze(0);
        long batch = abar.shape[0], n = abar.shape[1], c = unit.shape[1];
        var unitBar = batch == 1 ? backend.SymProduct2(abar.squeeze(0), unit) : backend.SymProduct(abar, unit.reshape(batch, n, c)).reshape(batch * n, c);
        var xbar = backend.NormalizeRowsBackward(unitBar, unit, norms, (double)ctx.get_data("eps"));
        return [OpBase.Like(ctx, xbar).MoveToOuterDisposeScope(), null!];
    }

    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor x, double eps)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var batched = x.dim() == 3 ? x : x.unsqueeze(0);
        int batch = (int)batched.shape[0], n = (int)batched.shape[1], c = (int)batched.shape[2];
        var rows = batched.reshape(batch * n, c).contiguous();
        var (norms, nb) = dev.Keep<T>(batch * n);
        var (unit, ub) = dev.Keep<T>(batch * n, c);
        var (a, ab) = dev.Keep<T>(batch, n, n);
        using (dev.Sequence()) RelationPrograms<T>.CosineForward(dev, dev.Bind<T>(rows), nb, ub, ab, batch, n, c, eps);
        ctx.save_for_backward([unit.MoveToOuterDisposeScope(), norms.MoveToOuterDisposeScope()]);
        return x.dim() == 3 ? a : a.squeeze(0);
    }

    static Tensor BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> saved, Tensor grad)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Tensor unit = saved[0], norms = saved[1];
        var abar = grad.to(TorchDevice.DType<T>()).contiguous();
        int n = (int)abar.shape[^1], c = (int)unit.shape[1], batch = (int)(unit.shape[0] / n);
        var (xbar, xb) = dev.Keep<T>(batch * n, c);
        using (dev.Sequence())
            RelationPrograms<T>.CosineBackward(dev, dev.Bind<T>(abar), dev.Bind<T>(unit), dev.Bind<T>(norms), xb, batch, n, c, (double)ctx.get_data("eps"));
        return xbar;
    }
}
