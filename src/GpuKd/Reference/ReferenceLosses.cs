using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Reference;

/// <summary>
/// The published loss compositions of REFERENCE.md (SP, CC, IRG) as plain TorchSharp ops,
/// written from the formulas, independently of GpuKd's kernels: the float64 oracles of the
/// tests and the baselines of the benchmarks. They materialise every b×b intermediate the
/// papers' code does.
/// </summary>
internal static class ReferenceLosses
{
    /// <summary>SP (Tung &amp; Mori): G = QQᵀ, F.normalize(G) (rows, eps 1e-12), Σ (G_T − G_S)² / b².</summary>
    public static Tensor SpLoss(Tensor student, Tensor teacher)
    {
        long b = student.shape[0];
        var gs = ReferenceOps.GramMatrix(student, normalizeRows: true);
        var gt = ReferenceOps.GramMatrix(teacher, normalizeRows: true);
        var diff = gt - gs;
        return (diff * diff).sum() / (double)(b * b);
    }

    /// <summary>The CC kernel matrix of x [b, …] (Peng et al.): x̂ = F.normalize(x), S = x̂x̂ᵀ, then
    /// Σ_{p≤P} e^{−2γ}(2γ)^p/p!·S^p, e^{−2γ(1−S)}, S, or xxᵀ for the raw bilinear kernel.</summary>
    public static Tensor CcKernelMatrix(Tensor x, CcKernel kernel = CcKernel.TaylorRbf, double gamma = 0.4, int order = 2)
    {
        var f = x.reshape(x.shape[0], -1);
        if (kernel == CcKernel.BilinearRaw) return f.mm(f.t());
        var xn = ReferenceOps.Normalize(f);
        var sim = xn.mm(xn.t());
        switch (kernel)
        {
            case CcKernel.Bilinear: return sim;
            case CcKernel.Rbf: return (-2 * gamma * (1 - sim)).exp();
            default:
                var k = zeros_like(sim);
                double factorial = 1;
                for (int p = 0; p <= order; p++)
                {
                    if (p > 0) factorial *= p;
                    k = k + Math.Exp(-2 * gamma) * Math.Pow(2 * gamma, p) / factorial * sim.pow(p);
                }
                return k;
        }
    }

    /// <summary>CC loss: mean over the b² entries of (K_S − K_T)².</summary>
    public static Tensor CcLoss(Tensor student, Tensor teacher, CcKernel kernel = CcKernel.TaylorRbf, double gamma = 0.4, int order = 2)
        => (CcKernelMatrix(student, kernel, gamma, order) - CcKernelMatrix(teacher, kernel, gamma, order)).pow(2).mean();

    /// <summary>IRG edge matrix: pdist(x, squared) (clamp 1e-12, zero diagonal) divided by its max; the max
    /// carries gradient (PyTorch's max()) unless <paramref name="differentiateMax"/> is false; 0 if the max is 0
    /// (b = 1; KD-Zoo's code gives NaN there), NaN if it is NaN.</summary>
    public static Tensor IrgEdgeMatrix(Tensor x, bool differentiateMax = true)
    {
        var q = ReferenceOps.PairwiseDistances(x, squared: true);
        var m = q.max();
        if (!differentiateMax) m = m.detach();
        var zero = m == 0;   // not `m > 0`: a NaN max must reach the division
        return where(zero, zeros_like(q), q / where(zero, ones_like(m), m));
    }

    /// <summary>IRG edge loss: mean over b² of (E_S − E_T)².</summary>
    public static Tensor IrgEdgeLoss(Tensor student, Tensor teacher, bool differentiateMax = true)
        => (IrgEdgeMatrix(student, differentiateMax) - IrgEdgeMatrix(teacher, differentiateMax)).pow(2).mean();

    /// <summary>IRG vertex loss: MSE (mean) of the logits.</summary>
    public static Tensor IrgVertexLoss(Tensor studentLogits, Tensor teacherLogits)
        => (studentLogits - teacherLogits).pow(2).mean();

    /// <summary>IRG-t vector of one network (KD-Zoo's <c>euclidean_dist_fms</c>, squared): l1 adaptive-average-pooled to
    /// l2's spatial size when its map is larger; adjacent channels of the wider map averaged when the counts differ by
    /// 2 (KD-Zoo folds only l2); Σ(l1 − l2)² per sample, clamped below at 1e-12, divided by its max.</summary>
    public static Tensor IrgTransformVector(Tensor from, Tensor to, bool differentiateMax = true)
    {
        var a = from;
        var c = to;
        if (a.dim() == 4 && (a.shape[2] > c.shape[2] || a.shape[3] > c.shape[3]))
            a = nn.functional.adaptive_avg_pool2d(a, [c.shape[2], c.shape[3]]);
        if (a.shape[1] == 2 * c.shape[1]) a = (a.index_select(1, arange(0, a.shape[1], 2)) + a.index_select(1, arange(1, a.shape[1], 2))) / 2.0;
        else if (c.shape[1] == 2 * a.shape[1]) c = (c.index_select(1, arange(0, c.shape[1], 2)) + c.index_select(1, arange(1, c.shape[1], 2))) / 2.0;
        var v = (a.reshape(a.shape[0], -1) - c.reshape(c.shape[0], -1)).pow(2).sum(-1).clamp_min(1e-12);
        var m = v.max();
        if (!differentiateMax) m = m.detach();
        return v / m;
    }

    /// <summary>IRG-t loss of one transition: MSE of the two networks' vectors.</summary>
    public static Tensor IrgTransformationLoss(Tensor studentFrom, Tensor studentTo, Tensor teacherFrom, Tensor teacherTo, bool differentiateMax = true)
        => (IrgTransformVector(studentFrom, studentTo, differentiateMax) - IrgTransformVector(teacherFrom, teacherTo, differentiateMax)).pow(2).mean();

    /// <summary>The IRG total: vertex·wv + mean edge over the pairs·we + mean transformation over the transitions·wt
    /// (consecutive layers when <paramref name="transitions"/> is null).</summary>
    public static Tensor IrgLoss(IReadOnlyList<Tensor> studentLayers, IReadOnlyList<Tensor> teacherLayers, Tensor? studentLogits, Tensor? teacherLogits,
        IrgPairing pairing = IrgPairing.OneToOne, double vertexWeight = 0.1, double edgeWeight = 5, double transformationWeight = 5, bool differentiateMax = true,
        IReadOnlyList<(int From, int To)>? transitions = null)
    {
        var total = zeros([], dtype: studentLayers[0].dtype);
        if (studentLogits is not null && teacherLogits is not null) total = total + vertexWeight * IrgVertexLoss(studentLogits, teacherLogits);
        var edges = zeros([], dtype: studentLayers[0].dtype);
        for (int l = 0; l < studentLayers.Count; l++)
            edges = edges + IrgEdgeLoss(studentLayers[l], pairing == IrgPairing.OneToOne ? teacherLayers[l] : teacherLayers[teacherLayers.Count - 1], differentiateMax);
        total = total + edgeWeight * edges / studentLayers.Count;
        if (teacherLayers.Count == studentLayers.Count || transitions is { Count: 0 })
        {
            var pairs = transitions ?? Enumerable.Range(0, studentLayers.Count - 1).Select(l => (l, l + 1)).ToArray();
            if (pairs.Count > 0)
            {
                var trans = zeros([], dtype: studentLayers[0].dtype);
                foreach (var (from, to) in pairs)
                    trans = trans + IrgTransformationLoss(studentLayers[from], studentLayers[to], teacherLayers[from], teacherLayers[to], differentiateMax);
                total = total + transformationWeight * trans / pairs.Count;
            }
        }
        return total;
    }

    /// <summary>
    /// KD-Zoo's <c>IRG(w_vert, w_edge, w_tran)([fm1, fm2, feat, out]_s, [fm1, fm2, feat, out]_t)</c>
    /// (<c>kd_losses/irg.py</c>), transcribed line by line as an independent oracle of the published loss: vertex
    /// MSE of the logits; the edge matrices of fm1, fm2 (flattened) and feat (squared distances from the Gram form,
    /// clamped at 1e-12, diagonal 0, divided by the max — no guard), their MSEs averaged; one transformation term
    /// fm1 → fm2 (fm1 adaptive-pooled when its height is larger, fm2's channel pairs averaged when fm1 has fewer
    /// channels, clamp 1e-12, divided by the max).
    /// </summary>
    public static Tensor KdZooIrg(Tensor[] s, Tensor[] t, double wVert = 0.1, double wEdge = 5, double wTran = 5)
    {
        static Tensor Edge(Tensor fm)
        {
            fm = fm.reshape(fm.shape[0], -1);
            var sq = fm.pow(2).sum(1);
            var dist = (sq.unsqueeze(0) + sq.unsqueeze(1) - 2 * fm.mm(fm.t())).clamp(min: 1e-12);
            dist = dist.masked_fill(eye(fm.shape[0], dtype: fm.dtype) > 0, 0.0);   // dist[range(b), range(b)] = 0
            return dist / dist.max();
        }
        static Tensor Tran(Tensor fm1, Tensor fm2)
        {
            if (fm1.shape[2] > fm2.shape[2]) fm1 = nn.functional.adaptive_avg_pool2d(fm1, [fm2.shape[2], fm2.shape[3]]);
            if (fm1.shape[1] < fm2.shape[1])
                fm2 = (fm2.index_select(1, arange(0, fm2.shape[1], 2)) + fm2.index_select(1, arange(1, fm2.shape[1], 2))) / 2.0;
            var d = (fm1.reshape(fm1.shape[0], -1) - fm2.reshape(fm2.shape[0], -1)).pow(2).sum(-1).clamp(min: 1e-12);
            return d / d.max();
        }
        static Tensor Mse(Tensor a, Tensor b) => (a - b).pow(2).mean();
        var vert = Mse(s[3], t[3]);
        var edge = (Mse(Edge(s[2]), Edge(t[2])) + Mse(Edge(s[0]), Edge(t[0])) + Mse(Edge(s[1]), Edge(t[1]))) / 3.0;
        var tran = Mse(Tran(s[0], s[1]), Tran(t[0], t[1]));
        return wVert * vert + wEdge * edge + wTran * tran;
    }
}
