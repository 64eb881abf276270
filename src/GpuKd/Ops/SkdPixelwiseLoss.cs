using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// Structured-KD pixel-wise loss over NCHW logits [B, K, H, W], fused: one pass per pixel over the class axis
/// computes the softmaxes, the pixel's term and, for each input that requires a gradient, its gradient
/// (<see cref="CpuSkdPixelwise"/> on the CPU backend, the ILGPU kernel <see cref="Kernels.Ilgpu.SkdKernels.Pixelwise{T}"/>
/// on the ILGPU backend, both in float64 per pixel), so the forward stores only the gradients and the backward just
/// scales them by the upstream value. Per-pixel terms are summed on the host in a fixed order (deterministic). CUDA
/// tensors are staged through CPU memory (DESIGN §6); under ILGPU a float32 input is widened to float64 first
/// (transient float64 copies of both logits and of the g gradients asked for: (2 + g)·B·K·H·W·8 bytes more than the
/// CPU backend's g float32 gradients).
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
        var zs = s.detach().cpu().contiguous();
        var zt = t.detach().cpu().contiguous();
        // Mean — CE: Σ over the batch / (H·W); KL: T²·mean over the B·H·W pixels. Sum and None: the pixel terms (T²·KL).
        double count = reduction == nn.Reduction.Mean
            ? (kl ? (double)b * p / (temperature * temperature) : p)
            : (kl ? 1 / (temperature * temperature) : 1);
        var gs = s.requires_grad ? empty_like(zs) : null;
        var gt = t.requires_grad ? empty_like(zt) : null;
        var backend = KdRuntime.For(s);
        // Per-pixel terms (ILGPU) or per-work-unit partials (CPU kernel), each added in index order: deterministic.
        Tensor terms;
        if (backend is IlgpuBackend ilgpu)
        {
            terms = empty(b * (long)p, dtype: ScalarType.Float64);
            SkdDevice.Pixelwise(ilgpu, zs, zt, gs, gt, terms, b, k, p, 1 / temperature, kl, 1 / count);
        }
        else
        {
            terms = empty(CpuSkdPixelwise.Units(b, p), dtype: ScalarType.Float64);
            // libtorch's thread count bounds the kernel's threads too (torch.set_num_threads(1) means one thread).
            int threads = torch.get_num_threads();
            if (zs.dtype == ScalarType.Float32)
                CpuSkdPixelwise.Run(TensorMemory.Ptr<float>(zs), TensorMemory.Ptr<float>(zt), gs is null ? null : TensorMemory.Ptr<float>(gs),
                                    gt is null ? null : TensorMemory.Ptr<float>(gt), TensorMemory.Ptr<double>(terms), b, k, p, 1 / temperature, kl, 1 / count, threads);
            else
                CpuSkdPixelwise.Run(TensorMemory.Ptr<double>(zs), TensorMemory.Ptr<double>(zt), gs is null ? null : TensorMemory.Ptr<double>(gs),
                                    gt is null ? null : TensorMemory.Ptr<double>(gt), TensorMemory.Ptr<double>(terms), b, k, p, 1 / temperature, kl, 1 / count, threads);
        }
        bool none = reduction == nn.Reduction.None;
        // None: the pixel terms themselves. The CPU kernel keeps only per-unit partials, so there they are formed
        // by a composition ([B, H, W] in double; None is the caller's choice to hold them).
        var loss = none
            ? (backend is IlgpuBackend ? terms : PixelTerms(zs, zt, 1 / temperature, kl)).div(count).to(s.dtype).reshape(b, s.shape[2], s.shape[3]).to(s.device)
            : torch.tensor(OpBase.OrderedSum(terms) / count, dtype: s.dtype, device: s.device);
        ctx.save_data("pixelTerms", none);
        PairOp.SaveInputs(ctx, backend, s, t);
        ctx.save_for_backward([(gs ?? empty(0)).MoveToOuterDisposeScope(), (gt ?? empty(0)).MoveToOuterDisposeScope()]);
        return loss.MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        bool needS = PairOp.Needs(ctx, 0), needT = PairOp.Needs(ctx, 1);
        var saved = ctx.get_saved_variables();
        if ((bool)ctx.get_data("pixelTerms"))
        {
            // None: each pixel's stored gradient times that pixel's upstream value (broadcast over the classes).
            var like = needS ? saved[0] : saved[1];
            using var up = grad.detach().to(like.dtype).cpu().unsqueeze(1);
            return [needS ? PairOp.Like(ctx, 0, saved[0] * up) : null!, needT ? PairOp.Like(ctx, 1, saved[1] * up) : null!, null!, null!, null!];
        }
        double scalar = PairOp.Upstream(grad);
        return [needS ? PairOp.Like(ctx, 0, saved[0] * scalar) : null!, needT ? PairOp.Like(ctx, 1, saved[1] * scalar) : null!, null!, null!, null!];
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
