using GpuKd.Device;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// RKD distance loss, L = (1/b²) Σ_ij h(d^S_ij/μ_S − d^T_ij/μ_T), μ = mean positive distance, h = smooth-L1
/// (β = 1). Per side: centred Gram, the distance epilogue, μ; then one fused pass of row partial sums. Backward:
/// the loss epilogue's d̄ (μ differentiated), the distance backward, one product per side.
/// On a device (CUDA in place, or ILGPU's CPU accelerator) it runs <see cref="RkdPrograms{T}"/>: μ and the loss
/// total stay on the device. Saved: per side Xc (b×D), d (b×b), 1/μ (one element on a device).
/// Peak extra memory: O(b² + bD).
/// On the CPU fast path (authors' code): ψ = pdist(x)/μ with μ the mean of the positive entries
/// (every off-diagonal one, m = b(b−1)), L = mean over b² of h(ψ^S − ψ^T), h = smooth-L1.
/// μ carries gradient on each side that requires one. Backward per side, with
/// r = ±h'(ψ^S − ψ^T)·upstream/b²: d̄ = r/μ − [i ≠ j](Σ r·d)/(m μ²), then the distance
/// backward (Ḡ) and one product. The loss epilogue is one fused pass per direction
/// (no b² temporaries). Saved per side: Xc (b×D) and d (b²).
/// Float32 inputs take the widened epilogue (<see cref="GpuKd.Kernels.Cpu.CpuWide"/>): squared norms summed in
/// double from Xc, d in double from them and the float32 GEMM's off-diagonal Gram, ψ, r and Ḡ in double, Ḡ
/// rounded to float32 for the one backward product. d is then held in double (b² × 8 bytes per side).
/// </summary>
internal sealed class RkdDistanceLoss : autograd.SingleTensorFunction<RkdDistanceLoss>
{
    public override string Name => "GpuKdRkdDistanceLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, nn.Reduction reduction)
    {
        PairOp.Validate(student, teacher);
        PairOp.MinBatch(student, 2);
        Validate.ScalarReduction(reduction, nameof(reduction));
        return apply(Scaling.Invariant(student), Scaling.Invariant(teacher), reduction);   // each side's relation is scale-free
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (student, teacher, reduction) = ((Tensor)vars[0], (Tensor)vars[1], (nn.Reduction)vars[2]);
        using var scope = NewDisposeScope();
        long b = student.shape[0];
        double count = reduction == nn.Reduction.Mean ? (double)b * b : 1.0;
        ctx.save_data("count", count);
        if (PairOp.TryProgram(ctx, student, teacher, d => OnDevice<float>(d, ctx, student, teacher, count), d => OnDevice<double>(d, ctx, student, teacher, count)) is { } onDevice)
            return onDevice;

        var cpu = CpuBackend.Instance;
        var (cs, ds, invMuS) = Side(cpu, student);
        var (ct, dt, invMuT) = Side(cpu, teacher);
        var loss = PairOp.Mean(cpu.DistanceLossPartials(ds, dt, invMuS, invMuT), count, student);

        PairOp.SaveInputs(ctx, cpu, student, teacher);
        ctx.save_data("invMu", (invMuS, invMuT));
        ctx.save_for_backward([.. new[] { cs, ds, ct, dt }.Select(t => t.MoveToOuterDisposeScope())]);
        return loss.MoveToOuterDisposeScope();
    }

    static (Tensor Centred, Tensor Dist, double InvMu) Side(CpuBackend backend, Tensor x)
    {
        var (centred, g) = OpBase.CentredGram(backend, x);
        var dist = centred.dtype == ScalarType.Float32
            ? backend.DistanceForwardWide(g, centred, backend.SquaredNormsWide(centred), squared: false, PairwiseDistances.Clamp)
            : backend.DistanceForward(g, centred, squared: false, PairwiseDistances.Clamp);
        long b = dist.shape[0];
        return (centred, dist, (double)(b * (b - 1)) / OpBase.OrderedSum(dist));
    }

    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor student, Tensor teacher, double count)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)student.shape[0];
        Tensor xs = OpBase.DeviceRows(student), xt = OpBase.DeviceRows(teacher);
        int ds = (int)xs.shape[1], dt = (int)xt.shape[1];
        var saved = new List<Tensor>();
        RkdDistanceSide<T> Side(int d)
        {
            return new(dev.KeepInto<T>(saved, b, d), dev.KeepInto<double>(saved, b, b), dev.KeepInto<double>(saved, 1));   // d and 1/μ in double (the epilogue's precision)
        }
        var (loss, lossBuf) = dev.Keep<T>();
        using (dev.Sequence())
        {
            RkdDistanceSide<T> s = Side(ds), t = Side(dt);
            RkdPrograms<T>.DistanceForward(dev, dev.Bind<T>(xs), dev.Bind<T>(xt), s, t, lossBuf, b, ds, dt, count);
        }
        ctx.save_for_backward([.. saved.Select(x => x.MoveToOuterDisposeScope())]);
        return loss;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        using var scope = NewDisposeScope();
        var s = ctx.get_saved_variables();
        double count = (double)ctx.get_data("count");
        if (OpBase.ProgramDevice(ctx) is { } dev)
            return OpBase.ByType(s[0], () => BackwardOnDevice<float>(dev, ctx, s, grad, count), () => BackwardOnDevice<double>(dev, ctx, s, grad, count));

        var cpu = CpuBackend.Instance;
        Tensor cs = s[0], ds = s[1], ct = s[2], dt = s[3];
        var (invMuS, invMuT) = ((double, double))ctx.get_data("invMu");
        double scale = PairOp.Upstream(grad) / count;

        // ∂L/∂ψ^T = h'(ψ^T − ψ^S)·scale: the student's formula with the sides swapped (h' is odd).
        Tensor? Side(int i, Tensor c, Tensor d, Tensor dO, double invMu, double invMuO)
        {
            if (!PairOp.Needs(ctx, i)) return null;
            var dbar = cpu.DistanceLossBackward(d, dO, invMu, invMuO, scale);
            var gbar = cpu.DistanceBackward(dbar, d, squared: false, PairwiseDistances.Clamp);
            if (gbar.dtype != c.dtype) gbar = gbar.to(c.dtype);   // the widened float32 path: Ḡ computed in double
            return PairOp.Like(ctx, i, cpu.SymProduct2(gbar, c)).MoveToOuterDisposeScope();
        }
        return [Side(0, cs, ds, dt, invMuS, invMuT)!, Side(1, ct, dt, ds, invMuT, invMuS)!, null!];
    }

    static List<Tensor> BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> s, Tensor grad, double count)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        => PairOp.DeviceBackward<T, RkdDistanceSide<T>>(dev, ctx, s, grad, perSide: 3, v => new RkdDistanceSide<T>(dev.Bind<T>(v[0]), dev.Bind<double>(v[1]), dev.Bind<double>(v[2])),
            (self, other, u, xb, b, dim) => RkdPrograms<T>.DistanceBackward(dev, self, other, u, xb, b, dim, count));
}
