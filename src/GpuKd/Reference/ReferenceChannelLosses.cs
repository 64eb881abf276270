using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Reference;

/// <summary>
/// The published channel- and probability-relation losses of issue 16 (ICKD, NST, PKT, DIST, FSP), transcribed line by
/// line from the authors' / torchdistill's / RepDistiller's PyTorch (docs/design-notes.md, "Issue 16"), independently
/// of GpuKd's kernels: the float64 oracles of the tests and the baselines of the benchmarks. They materialise every
/// intermediate the published code does.
/// </summary>
internal static class ReferenceChannelLosses
{
    /// <summary>F.normalize(x, dim) = x / max(‖x‖₂ along dim, eps); with <paramref name="maskDegenerate"/> a row whose
    /// norm is ≤ eps is 0 with no gradient (the gradient oracle at zero rows; the published one is ~1/eps-scaled there).</summary>
    static Tensor Normalize(Tensor x, long dim, double eps = 1e-12, bool maskDegenerate = false)
    {
        var n = x.norm((int)dim, keepdim: true);
        var y = x / n.clamp_min(eps);
        return maskDegenerate ? y * (n > eps).detach().to(x.dtype) : y;
    }

    /// <summary>torchdistill <c>ChSimLoss.batch_loss(f_s, f_t)</c> (ICKD): f.view(bsz, ch, −1), emd = bmm(f, fᵀ),
    /// F.normalize(emd, dim=2), loss = (g_diff²).sum() / (ch·bsz·bsz). <paramref name="sum"/>: the Σ without the division.</summary>
    public static Tensor IckdLoss(Tensor fS, Tensor fT, bool sum = false, bool maskDegenerate = false)
    {
        long bsz = fS.shape[0], ch = fS.shape[1];
        var s = fS.reshape(bsz, ch, -1);
        var t = fT.reshape(bsz, ch, -1);
        var emdS = Normalize(s.bmm(s.permute(0, 2, 1)), 2, maskDegenerate: maskDegenerate);
        var emdT = Normalize(t.bmm(t.permute(0, 2, 1)), 2, maskDegenerate: maskDegenerate);
        var gDiff = emdS - emdT;
        var total = (gDiff * gDiff).reshape(bsz, -1).sum();
        return sum ? total : total / (double)(ch * bsz * bsz);
    }

    /// <summary>RepDistiller <c>NSTLoss.nst_loss(f_s, f_t)</c> with <c>full_loss = True</c>: the map with the larger H
    /// adaptive-average-pooled to (H, H) of the other; f.view(B, C, −1), F.normalize(dim=2);
    /// poly_kernel(f_t, f_t).mean().detach() + poly_kernel(f_s, f_s).mean() − 2·poly_kernel(f_s, f_t).mean(), with
    /// poly_kernel(a, b) = (a.unsqueeze(1) * b.unsqueeze(2)).sum(−1).pow(2) — a [B, Cb, Ca, H·W] product.
    /// <paramref name="sum"/>: .sum() in place of each .mean().</summary>
    public static Tensor NstLoss(Tensor fS, Tensor fT, bool sum = false, bool maskDegenerate = false)
    {
        long sH = fS.shape[2], tH = fT.shape[2];
        if (sH > tH) fS = nn.functional.adaptive_avg_pool2d(fS, [tH, tH]);
        else if (sH < tH) fT = nn.functional.adaptive_avg_pool2d(fT, [sH, sH]);
        fS = Normalize(fS.reshape(fS.shape[0], fS.shape[1], -1), 2, maskDegenerate: maskDegenerate);
        fT = Normalize(fT.reshape(fT.shape[0], fT.shape[1], -1), 2, maskDegenerate: maskDegenerate);
        Tensor R(Tensor k) => sum ? k.sum() : k.mean();
        return R(PolyKernel(fT, fT)).detach() + R(PolyKernel(fS, fS)) - 2 * R(PolyKernel(fS, fT));
    }

    /// <summary>The teacher–teacher term alone (mean or sum of poly_kernel(f_t, f_t), after the same pooling): what the
    /// published <c>.detach()</c> keeps out of the gradient (tests subtract it, detached, to gradcheck the teacher side).</summary>
    public static Tensor NstTeacherTerm(Tensor fS, Tensor fT, bool sum = false)
    {
        long sH = fS.shape[2], tH = fT.shape[2];
        if (sH < tH) fT = nn.functional.adaptive_avg_pool2d(fT, [sH, sH]);
        fT = Normalize(fT.reshape(fT.shape[0], fT.shape[1], -1), 2);
        var k = PolyKernel(fT, fT);
        return sum ? k.sum() : k.mean();
    }

    static Tensor PolyKernel(Tensor a, Tensor b) => (a.unsqueeze(1) * b.unsqueeze(2)).sum(-1).pow(2);

    /// <summary>RepDistiller <c>PKT.cosine_similarity_loss(output_net, target_net, eps=1e-7)</c>, line by line: norm =
    /// sqrt(Σ x², dim 1), x / (norm + eps), NaN entries set to 0, S = x xᵀ, (S + 1)/2, rows / their sums,
    /// mean(q·log((q + eps)/(p + eps))). <paramref name="sum"/>: .sum() for the mean. <paramref name="subgradientNorm"/>:
    /// x.norm() (gradient 0 at a zero row) in place of sqrt(Σ x²) (NaN there) — the gradient oracle at zero rows.</summary>
    public static Tensor PktLoss(Tensor outputNet, Tensor targetNet, double eps = 1e-7, bool sum = false, bool subgradientNorm = false)
    {
        Tensor Unit(Tensor x)
        {
            x = x.reshape(x.shape[0], -1);
            var norm = subgradientNorm ? x.norm(1, keepdim: true) : (x * x).sum(1, keepdim: true).sqrt();
            var u = x / (norm + eps);
            return where(u.isnan(), zeros_like(u), u);   // output_net[output_net != output_net] = 0
        }
        var o = Unit(outputNet);
        var t = Unit(targetNet);
        var model = o.mm(o.t());
        var target = t.mm(t.t());
        model = (model + 1.0) / 2.0;
        target = (target + 1.0) / 2.0;
        model = model / model.sum(1, keepdim: true);
        target = target / target.sum(1, keepdim: true);
        var terms = target * ((target + eps) / (model + eps)).log();
        return sum ? terms.sum() : terms.mean();
    }
    /// <summary>torchdistill <c>DISTLoss.forward</c> (Huang et al., NeurIPS 2022), line by line: y = (z / tau).softmax(dim=1)
    /// per side; <c>pearson_correlation(a, b, eps) = cosine_similarity(a − a.mean(1).unsqueeze(1), b − b.mean(1).unsqueeze(1),
    /// eps=eps)</c> (torch.nn.functional.cosine_similarity, eps 1e-8: libtorch 2.x divides by max(‖a‖, eps)·max(‖b‖, eps));
    /// inter = 1 − pearson(y_s, y_t).mean(), intra = the same on y.transpose(0, 1); loss = beta·tau²·inter + gamma·tau²·intra.
    /// <paramref name="sum"/>: the sums over the b rows and K columns in place of the means (βτ²·Σ_i(1 − ρ_i) +
    /// γτ²·Σ_k(1 − σ_k)). <paramref name="detachDegenerate"/>: a correlation whose centred vector on either side has a norm
    /// ≤ eps passes no gradient (the gradient oracle at zero-variance rows and columns; the published one is ~1/eps-scaled
    /// there and, inside the eps ball, not the derivative of the clamped formula), and so does every correlation of
    /// vectors of ≤ 2 entries (identically ±1).</summary>
    public static Tensor DistLoss(Tensor studentLogits, Tensor teacherLogits, double beta = 1, double gamma = 1, double tau = 1, double eps = 1e-8,
        bool sum = false, bool detachDegenerate = false)
    {
        Tensor Pearson(Tensor a, Tensor b)
        {
            var ca = a - a.mean([1]).unsqueeze(1);
            var cb = b - b.mean([1]).unsqueeze(1);
            var cos = nn.functional.cosine_similarity(ca, cb, 1, eps);
            if (!detachDegenerate) return cos;
            // Two entries: the centred vectors are ±d, corr ≡ ±1, its derivative exactly 0 (the published one: rounding noise).
            // (cos·0 + cos.detach(): the value, a graph, a zero gradient — the backward needs a graph when everything is masked.)
            if (a.shape[1] <= 2) return cos * 0 + cos.detach();
            var degenerate = (ca.norm(1) <= eps).logical_or(cb.norm(1) <= eps).detach();
            return where(degenerate, cos * 0 + cos.detach(), cos);
        }
        Tensor Relation(Tensor a, Tensor b) => sum ? (1 - Pearson(a, b)).sum() : 1 - Pearson(a, b).mean();
        var ys = (studentLogits / tau).softmax(1);
        var yt = (teacherLogits / tau).softmax(1);
        var inter = tau * tau * Relation(ys, yt);
        var intra = tau * tau * Relation(ys.transpose(0, 1), yt.transpose(0, 1));
        return beta * inter + gamma * intra;
    }

    /// <summary>RepDistiller <c>FSP.forward(g_s, g_t)</c>, line by line: <c>compute_fsp</c> per side (for consecutive
    /// layers bot = g[i], top = g[i + 1]: if b_H &gt; t_H bot = adaptive_avg_pool2d(bot, (t_H, t_H)), elif b_H &lt; t_H
    /// top = adaptive_avg_pool2d(top, (b_H, b_H)); bot.unsqueeze(1), top.unsqueeze(2), each .view(B, ·, ·, −1),
    /// fsp = (bot * top).mean(−1) — a [B, Ct, Cb, H·W] product), <c>compute_loss</c> = (s − t).pow(2).mean() per pair; the
    /// list of losses added with <paramref name="weights"/> (1 each when null). <paramref name="sum"/>: .sum() for the mean.</summary>
    public static Tensor FspLoss(IReadOnlyList<Tensor> gS, IReadOnlyList<Tensor> gT, IReadOnlyList<double>? weights = null, bool sum = false)
    {
        var sFsp = ComputeFsp(gS);
        var tFsp = ComputeFsp(gT);
        Tensor? total = null;
        for (int i = 0; i < sFsp.Count; i++)
        {
            var sq = (sFsp[i] - tFsp[i]).pow(2);
            var loss = (sum ? sq.sum() : sq.mean()) * (weights?[i] ?? 1.0);
            total = total is null ? loss : total + loss;
        }
        return total!;
    }

    static List<Tensor> ComputeFsp(IReadOnlyList<Tensor> g)
    {
        var fspList = new List<Tensor>();
        for (int i = 0; i < g.Count - 1; i++)
        {
            Tensor bot = g[i], top = g[i + 1];
            long bH = bot.shape[2], tH = top.shape[2];
            if (bH > tH) bot = nn.functional.adaptive_avg_pool2d(bot, [tH, tH]);
            else if (bH < tH) top = nn.functional.adaptive_avg_pool2d(top, [bH, bH]);
            bot = bot.unsqueeze(1);
            top = top.unsqueeze(2);
            bot = bot.reshape(bot.shape[0], bot.shape[1], bot.shape[2], -1);
            top = top.reshape(top.shape[0], top.shape[1], top.shape[2], -1);
            var fsp = (bot * top).mean([-1L]);
            fspList.Add(fsp);
        }
        return fspList;
    }
}
