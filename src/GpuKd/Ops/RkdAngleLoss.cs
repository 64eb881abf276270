using GpuKd.Device;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// RKD angle loss, L = (1/b³) Σ_abc h(ψ^S_abc − ψ^T_abc), h = smooth-L1 (β = 1), without the
/// reference's b×b×D differences or b³ angle tensors (DESIGN §4, the flagship). Forward:
/// per side the centred Gram and the leg tables, then one streaming pass over (a, b, c) that
/// leaves b² partial sums. Backward: the three deterministic passes of the angle op with
/// ∂L/∂ψ recomputed from both sides' tables, then one product per side.
/// On a device (CUDA in place, or ILGPU's CPU accelerator) it runs <see cref="RkdPrograms{T}"/>: one launch
/// sequence per autograd call, the loss total reduced on the device. On CPU tensors by default, the CPU fast
/// path (libtorch GEMM, SIMD passes that use ψ_abc = ψ_acb).
/// Saved: per side Xc (b×D), G, inv, ginv (b² each). Float32 (<see cref="OpBase.AngleTables"/>, the programs' <c>Legs</c>):
/// G is the pseudo-Gram of kernels/Maths/AngleMath, its diagonal the double squared norms rounded once and its
/// off-diagonal shifted by their low parts (every angle unchanged, no float32 diagonal rounding shared by an apex's b²
/// angles), and the passes form each numerator small terms first; O(b² + bD) extra work, no extra memory.
/// </summary>
internal sealed class RkdAngleLoss : autograd.SingleTensorFunction<RkdAngleLoss>
{
    public override string Name => "GpuKdRkdAngleLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, nn.Reduction reduction)
    {
        PairOp.Validate(student, teacher);
        Validate.ScalarReduction(reduction, nameof(reduction));
        return apply(Scaling.Invariant(student), Scaling.Invariant(teacher), reduction);   // each side's relation is scale-free
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (student, teacher, reduction) = ((Tensor)vars[0], (Tensor)vars[1], (nn.Reduction)vars[2]);
        using var scope = NewDisposeScope();
        long b = student.shape[0];
        double count = reduction == nn.Reduction.Mean ? (double)b * b * b : 1.0;
        ctx.save_data("count", count);
        if (PairOp.TryProgram(ctx, student, teacher, d => OnDevice<float>(d, ctx, student, teacher, count), d => OnDevice<double>(d, ctx, student, teacher, count)) is { } onDevice)
            return onDevice;

        var cpu = CpuBackend.Instance;
        var (cs, gs, invS, ginvS) = OpBase.AngleTables(cpu, student, TripletAngles.Tiny);
        var (ct, gt, invT, ginvT) = OpBase.AngleTables(cpu, teacher, TripletAngles.Tiny);
        var loss = PairOp.Mean(cpu.AngleLossPartials(gs, invS, gt, invT), count, student);

        PairOp.SaveInputs(ctx, cpu, student, teacher);
        ctx.save_for_backward([.. new[] { cs, gs, invS, ginvS, ct, gt, invT, ginvT }.Select(t => t.MoveToOuterDisposeScope())]);
        return loss.MoveToOuterDisposeScope();
    }

    static Tensor OnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, Tensor student, Tensor teacher, double count)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        int b = (int)student.shape[0];
        Tensor xs = OpBase.DeviceRows(student), xt = OpBase.DeviceRows(teacher);
        int ds = (int)xs.shape[1], dt = (int)xt.shape[1];
        var saved = new List<Tensor>();
        RkdAngleSide<T> Side(int d)
        {
            return new(dev.KeepInto<T>(saved, b, d), dev.KeepInto<T>(saved, b, b), dev.KeepInto<T>(saved, b, b), dev.KeepInto<T>(saved, b, b));
        }
        var (loss, lossBuf) = dev.Keep<T>();
        using (dev.Sequence())
        {
            RkdAngleSide<T> s = Side(ds), t = Side(dt);
            RkdPrograms<T>.AngleForward(dev, dev.Bind<T>(xs), dev.Bind<T>(xt), s, t, lossBuf, b, ds, dt, count);
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
        Tensor cs = s[0], gs = s[1], invS = s[2], ginvS = s[3], ct = s[4], gt = s[5], invT = s[6], ginvT = s[7];
        double scale = PairOp.Upstream(grad) / count;

        // ∂L/∂ψ^T = h'(ψ^T − ψ^S)·scale: the same pass with the sides swapped (h' is odd).
        Tensor? Side(int i, Tensor c, Tensor g, Tensor inv, Tensor ginv, Tensor gO, Tensor invO)
        {
            if (!PairOp.Needs(ctx, i)) return null;
            if (c.shape[1] == 1) return PairOp.Like(ctx, i, TripletAngles.OneDimensionalGradient(c, cO: i == 0 ? ct : cs, scale)).MoveToOuterDisposeScope();
            var gbar = cpu.AngleLossBackward(g, inv, ginv, gO, invO, scale);
            return PairOp.Like(ctx, i, cpu.SymProduct2(gbar, c)).MoveToOuterDisposeScope();
        }
        return [Side(0, cs, gs, invS, ginvS, gt, invT)!, Side(1, ct, gt, invT, ginvT, gs, invS)!, null!];
    }

    static List<Tensor> BackwardOnDevice<T>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> s, Tensor grad, double count)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        => PairOp.DeviceBackward<T, RkdAngleSide<T>>(dev, ctx, s, grad, perSide: 4, v => new RkdAngleSide<T>(dev.Bind<T>(v[0]), dev.Bind<T>(v[1]), dev.Bind<T>(v[2]), dev.Bind<T>(v[3])),
            (self, other, u, xb, b, dim) => RkdPrograms<T>.AngleBackward(dev, self, other, u, xb, b, dim, count));
}
