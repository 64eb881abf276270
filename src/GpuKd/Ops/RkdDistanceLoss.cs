using GpuKd.Device;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// RKD distance loss (authors' code): ψ = pdist(x)/μ with μ the mean of the positive entries
/// (every off-diagonal one, m = b(b−1)), L = mean over b² of h(ψ^S − ψ^T), h = smooth-L1.
/// μ carries gradient on each side that requires one. Backward per side, with
/// r = ±h'(ψ^S − ψ^T)·upstream/b²: d̄ = r/μ − [d &gt; 0](Σ r·d)/(m μ²), then the distance
/// backward (Ḡ) and one product. Saved per side: Xc (b×D), d and μ (b² + 1).
/// </summary>
internal sealed class RkdDistanceLoss : autograd.SingleTensorFunction<RkdDistanceLoss>
{
    public override string Name => "GpuKdRkdDistanceLoss";

    public static Tensor Apply(Tensor student, Tensor teacher, nn.Reduction reduction)
    {
        Validate.StudentTeacher(student, teacher, minBatch: 2);
        Validate.ScalarReduction(reduction, nameof(reduction));
        return apply(student, teacher, reduction);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (student, teacher, reduction) = ((Tensor)vars[0], (Tensor)vars[1], (nn.Reduction)vars[2]);
        using var scope = NewDisposeScope();
        var backend = KdRuntime.For(student);
        var (cs, ds, muS) = Side(backend, student);
        var (ct, dt, muT) = Side(backend, teacher);
        long b = student.shape[0];
        double count = reduction == nn.Reduction.Mean ? (double)b * b : 1.0;
        using var terms = nn.functional.smooth_l1_loss(ds / muS, dt / muT, reduction: nn.Reduction.None).contiguous();
        double loss = OpBase.OrderedSum(terms) / count;

        ctx.save_data("backend", backend);
        ctx.save_data("count", count);
        ctx.save_data("student", (student.requires_grad, student.shape, student.device));
        ctx.save_data("teacher", (teacher.requires_grad, teacher.shape, teacher.device));
        ctx.save_for_backward([.. new[] { cs, ds, muS, ct, dt, muT }.Select(t => t.MoveToOuterDisposeScope())]);
        return tensor(loss, dtype: student.dtype, device: student.device).MoveToOuterDisposeScope();
    }

    /// <summary>Centred rows, RKD pdist and its mean over the b(b−1) off-diagonal entries.</summary>
    static (Tensor Centred, Tensor Dist, Tensor Mu) Side(IKdBackend backend, Tensor x)
    {
        var (centred, g) = OpBase.CentredGram(backend, x);
        var dist = backend.DistanceForward(g, centred, squared: false, PairwiseDistances.Clamp);
        long b = dist.shape[0];
        var mu = dist.sum() / (b * (b - 1));   // the diagonal is exactly 0; every other entry ≥ 1e-6
        return (centred, dist, mu);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        using var scope = NewDisposeScope();
        var backend = (IKdBackend)ctx.get_data("backend");
        var s = ctx.get_saved_variables();
        Tensor cs = s[0], ds = s[1], muS = s[2], ct = s[3], dt = s[4], muT = s[5];
        double scale = grad.to(ScalarType.Float64).cpu().item<double>() / (double)ctx.get_data("count");
        var r = (ds / muS - dt / muT).clamp(-1.0, 1.0) * scale;   // ∂L/∂ψ^S; ∂L/∂ψ^T = −r

        Tensor? Side(string who, Tensor c, Tensor d, Tensor mu, Tensor rSide)
        {
            var (needs, shape, device) = ((bool, long[], torch.Device))ctx.get_data(who);
            if (!needs) return null;
            long b = d.shape[0];
            var offDiagonal = ones_like(d) - eye(b, dtype: d.dtype);
            // ψ = d/μ with μ = Σd/m: d̄ = r/μ − (Σ r·d)/(m μ²) on the entries that enter μ.
            var dbar = (rSide / mu - offDiagonal * ((rSide * d).sum() / (b * (b - 1) * mu * mu))).contiguous();
            var gbar = backend.DistanceBackward(dbar, d, squared: false, PairwiseDistances.Clamp);
            var xbar = backend.SymProduct(gbar.unsqueeze(0), c.unsqueeze(0)).squeeze(0);
            return xbar.reshape(shape).to(device).MoveToOuterDisposeScope();
        }
        return [Side("student", cs, ds, muS, r)!, Side("teacher", ct, dt, muT, -r)!, null!];
    }
}
