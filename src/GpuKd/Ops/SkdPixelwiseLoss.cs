using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// Structured-KD pixel-wise loss over NCHW logits [B, K, H, W], fused: one pass per pixel over the class axis
/// computes the softmaxes, the pixel's term and, for each input that requires a gradient, its gradient (in float64
/// per pixel), so the forward stores only the gradients and the backward just scales them by the upstream value.
/// Where <see cref="KdRuntime.Programs"/> gives a device (CUDA tensors, in place; CPU tensors under the ILGPU
/// backend, on ILGPU's CPU accelerator) it runs <see cref="SkdPrograms{T}.Pixelwise"/>: the logits are read in their
/// own dtype (no float64 copy), the per-pixel float64 terms (B·H·W doubles) are summed on the device in a fixed order,
/// the loss and the backward's upstream never leave the device. Otherwise the CPU fast path
/// (<see cref="CpuSkdPixelwise"/>, per-work-unit partials summed on the host in a fixed order). Deterministic on both.
/// </summary>
internal sealed unsafe class SkdPixelwiseLoss : autograd.SingleTensorFunction<SkdPixelwiseLoss>
{
    public override string Name => "GpuKdSkdPixelwiseLoss";

    /// <summary>The loss; <paramref name="reduction"/>: Mean (the mode's published normalisation), Sum (the B·H·W pixel terms
    /// summed), None (those terms, [B, H, W]).</summary>
    public static Tensor Apply(Tensor s, Tensor t, double temperature, SkdPixelwise mode, nn.Reduction reduction = nn.Reduction.Mean)
        => apply(s, t, temperature, (int)mode, (int)reduction);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor s = (Tensor)vars[0], t = (Tensor)vars[1];
        double temperature = (double)vars[2];
        bool kl = (SkdPixelwise)(int)vars[3] == SkdPixelwise.TemperatureKl;
        var reduction = (nn.Reduction)(int)vars[4];
        using var scope = NewDisposeScope();
        int b = (int)s.shape[0], k = (int)s.shape[1], p = (int)(s.shape[2] * s.shape[3]);
        // Mean — CE: Σ over the batch / (H·W); KL: T²·mean over the B·H·W pixels. Sum and None: the pixel terms (T²·KL).
        double count = reduction == nn.Reduction.Mean
            ? (kl ? (double)b * p / (temperature * temperature) : p)
            : (kl ? 1 / (temperature * temperature) : 1);
        var dev = KdRuntime.Programs(s);
        OpBase.SaveDevice(ctx, dev);
        ctx.save_data("pixelTerms", reduction == nn.Reduction.None);
        PairOp.SaveInputs(ctx, null, s, t);
        if (dev is not null)
            return OpBase.ByType(s, () => OnDevice<float>(dev, ctx, s, t, b, k, p, 1 / temperature, kl, count, reduction),
                                    () => OnDevice<double>(dev, ctx, s, t, b, k, p, 1 / temperature, kl, count, reduction)).MoveToOuterDisposeScope();
        var zs = s.detach().contiguous();
        var zt = t.detach().contiguous();
        var gs = s.requires_grad ? empty_like(zs) : null;
        var gt = t.requires_grad ? empty_like(zt) : null;
        // Per-work-unit partials, each added in index order: deterministic.
        var terms = empty(CpuSkdPixelwise.Units(b, p), dtype: ScalarType.Float64);
        // libtorch's thread count bounds the kernel's threads too (torch.set_num_threads(1) means one thread).
        int threads = torch.get_num_threads();
        if (zs.dtype == ScalarType.Float32)
            CpuSkdPixelwise.Run(TensorMemory.Ptr<float>(zs), TensorMemory.Ptr<float>(zt), gs is null ? null : TensorMemory.Ptr<float>(gs),
                                gt is null ? null : TensorMemory.Ptr<float>(gt), TensorMemory.Ptr<double>(terms), b, k, p, 1 / temperature, kl, 1 / count, threads);
        else
            CpuSkdPixelwise.Run(TensorMemory.Ptr<double>(zs), TensorMemory.Ptr<double>(zt), gs is null ? null : TensorMemory.Ptr<double>(gs),
                                gt is null ? null : TensorMemory.Ptr<double>(gt), TensorMemory.Ptr<double>(terms), b, k, p, 1 / temperature, kl, 1 / count, threads);
        // None: the pixel terms themselves. The CPU kernel keeps only per-unit partials, so there they are formed
        // by a composition ([B, H, W] in double; None is the caller's choice to hold them).
        var loss = reduction == nn.Reduction.None
            ? PixelTerms(zs, zt, 1 / temperature, kl).div(count).to(s.dtype).reshape(b, s.shape[2], s.shape[3])
            : torch.tensor(OpBase.OrderedSum(terms) / count, dtype: s.dtype, device: s.device);
        ctx.save_for_backward([(gs ?? empty(0)).MoveToOuterDisposeScope(), (gt ?? empty(0)).MoveToOuterDisposeScope()]);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>The program path: inputs bound in place (a strided input is made contiguous by libtorch on its device),
    /// the gradients and the loss are tensors on the device, the sequence's temporaries (the float64 terms and the
    /// total's column sums) are released after it.</summary>
    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor s, Tensor t, int b, int k, int p, double invT, bool kl,
        double count, nn.Reduction reduction)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var zs = s.detach().contiguous();
        var zt = t.detach().contiguous();
        bool none = reduction == nn.Reduction.None;
        var (loss, lossBuf) = none ? dev.Keep<T>(b, s.shape[2], s.shape[3]) : dev.Keep<T>();
        (Tensor, Buf<T>) Grad(bool want) => want ? dev.Keep<T>(zs.shape) : (empty(0, dtype: zs.dtype, device: zs.device), default);
        var (gs, gsBuf) = Grad(s.requires_grad);
        var (gt, gtBuf) = Grad(t.requires_grad);
        using (dev.Sequence())
            SkdPrograms<T>.Pixelwise(dev, kl, dev.Bind<T>(zs), dev.Bind<T>(zt), gsBuf, gtBuf, lossBuf, none, b, k, p, invT, count);
        ctx.save_for_backward([gs.MoveToOuterDisposeScope(), gt.MoveToOuterDisposeScope()]);
        return loss;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        bool needS = PairOp.Needs(ctx, 0), needT = PairOp.Needs(ctx, 1);
        var saved = ctx.get_saved_variables();
        if (OpBase.ProgramDevice(ctx) is { } dev)
            return OpBase.ByType(saved[needS ? 0 : 1], () => BackwardOnDevice<float>(dev, ctx, saved, grad), () => BackwardOnDevice<double>(dev, ctx, saved, grad));
        if ((bool)ctx.get_data("pixelTerms"))
        {
            // None: each pixel's stored gradient times that pixel's upstream value (broadcast over the classes).
            var like = needS ? saved[0] : saved[1];
            using var up = OpBase.CpuOnly(grad).detach().to(like.dtype).unsqueeze(1);
            return [needS ? PairOp.Like(ctx, 0, saved[0] * up) : null!, needT ? PairOp.Like(ctx, 1, saved[1] * up) : null!, null!, null!, null!];
        }
        double scalar = PairOp.Upstream(grad);
        return [needS ? PairOp.Like(ctx, 0, saved[0] * scalar) : null!, needT ? PairOp.Like(ctx, 1, saved[1] * scalar) : null!, null!, null!, null!];
    }

    /// <summary>The program path's backward: each stored gradient times the upstream read from device memory (one
    /// element, or one per pixel for None), one launch per side, no host read.</summary>
    static List<Tensor> BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> saved, Tensor grad)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        using var scope = NewDisposeScope();
        var up = grad.detach().to(TorchDevice.DType<T>()).contiguous();
        var result = new Tensor?[2];
        using (dev.Sequence())
        {
            var upBuf = dev.Bind<T>(up);
            for (int side = 0; side < 2; side++)
            {
                if (!PairOp.Needs(ctx, side)) continue;
                var g = saved[side];
                var (r, rBuf) = dev.Keep<T>(g.shape);
                SkdPrograms<T>.PixelwiseBackward(dev, dev.Bind<T>(g), upBuf, rBuf, (int)g.shape[0], (int)g.shape[1], (int)(g.shape[2] * g.shape[3]));
                result[side] = r;
            }
        }
        return [.. result.Select((r, side) => r is null ? null! : PairOp.Like(ctx, side, r).MoveToOuterDisposeScope()), null!, null!, null!];
    }

    /// <summary>Per-pixel terms ℓ [B·P] (double) of <see cref="Kernels.Cpu.CpuSkdPixelwise"/>'s definition: cross-entropy
    /// −Σ_k p_T log p_S, or KL Σ_k p_T (log p_T − log p_S), with p = softmax(z/T) over the class axis.</summary>
    static Tensor PixelTerms(Tensor zs, Tensor zt, double invT, bool kl)
    {
        using var scope = NewDisposeScope();
        var ls = nn.functional.log_softmax(zs.to(ScalarType.Float64) * invT, 1);
        var lt = nn.functional.log_softmax(zt.to(ScalarType.Float64) * invT, 1);
        var terms = kl ? (lt.exp() * (lt - ls)).sum(1) : -(lt.exp() * ls).sum(1);
        return terms.reshape(-1).MoveToOuterDisposeScope();
    }
}
