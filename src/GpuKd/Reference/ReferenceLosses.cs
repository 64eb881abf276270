using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Reference;

/// <summary>
/// The published loss compositions of REFERENCE.md (SP, CC, IRG) as plain TorchSharp ops,
/// written from the formulas, independently of GpuKd's kernels: the float64 oracles of the
/// tests and the baselines of the benchmarks. They materialise every b×b intermediate the
/// papers' code does.
/// </summary>
public static class ReferenceLosses
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
    /// carries gradient (PyTorch's max()) unless <paramref name="differentiateMax"/> is false; 0 if the max is 0.</summary>
    public static Tensor IrgEdgeMatrix(Tensor x, bool differentiateMax = true)
    {
        var q = ReferenceOps.PairwiseDistances(x, squared: true);
        var m = q.max();
        if (!differentiateMax) m = m.detach();
        return where(m > 0, q / where(m > 0, m, ones_like(m)), zeros_like(q));
    }

    /// <summary>IRG edge loss: mean over b² of (E_S − E_T)².</summary>
    public static Tensor IrgEdgeLoss(Tensor student, Tensor teacher, bool differentiateMax = true)
        => (IrgEdgeMatrix(student, differentiateMax) - IrgEdgeMatrix(teacher, differentiateMax)).pow(2).mean();

    /// <summary>IRG vertex loss: MSE (mean) of the logits.</summary>
    public static Tensor IrgVertexLoss(Tensor studentLogits, Tensor teacherLogits)
        => (studentLogits - teacherLogits).pow(2).mean();

    /// <summary>IRG-t vector of one network: ‖pool(f_from) − f_to‖² per sample (avg_pool2d with kernel = stride =
    /// the spatial ratio; adjacent channels of the wider map averaged when the counts differ by 2), divided by its max.</summary>
    public static Tensor IrgTransformVector(Tensor from, Tensor to, bool differentiateMax = true)
    {
        var a = from;
        var c = to;
        if (a.dim() == 4 && (a.shape[2] != c.shape[2] || a.shape[3] != c.shape[3]))
        {
            long kh = a.shape[2] / c.shape[2], kw = a.shape[3] / c.shape[3];
            a = nn.functional.avg_pool2d(a, [kh, kw], [kh, kw]);
        }
        if (a.shape[1] == 2 * c.shape[1]) a = a.index_select(1, arange(0, a.shape[1], 2)) / 2 + a.index_select(1, arange(1, a.shape[1], 2)) / 2;
        else if (c.shape[1] == 2 * a.shape[1]) c = c.index_select(1, arange(0, c.shape[1], 2)) / 2 + c.index_select(1, arange(1, c.shape[1], 2)) / 2;
        var v = (a - c).pow(2).reshape(a.shape[0], -1).sum(1);
        var m = v.max();
        if (!differentiateMax) m = m.detach();
        return where(m > 0, v / where(m > 0, m, ones_like(m)), zeros_like(v));
    }

    /// <summary>IRG-t loss of one transition: MSE of the two networks' vectors.</summary>
    public static Tensor IrgTransformationLoss(Tensor studentFrom, Tensor studentTo, Tensor teacherFrom, Tensor teacherTo, bool differentiateMax = true)
        => (IrgTransformVector(studentFrom, studentTo, differentiateMax) - IrgTransformVector(teacherFrom, teacherTo, differentiateMax)).pow(2).mean();

    /// <summary>The IRG total: vertex·wv + mean edge over the pairs·we + mean transformation over consecutive layers·wt.</summary>
    public static Tensor IrgLoss(IReadOnlyList<Tensor> studentLayers, IReadOnlyList<Tensor> teacherLayers, Tensor? studentLogits, Tensor? teacherLogits,
        IrgPairing pairing = IrgPairing.OneToOne, double vertexWeight = 0.1, double edgeWeight = 5, double transformationWeight = 5, bool differentiateMax = true)
    {
        var total = zeros([], dtype: studentLayers[0].dtype);
        if (studentLogits is not null && teacherLogits is not null) total = total + vertexWeight * IrgVertexLoss(studentLogits, teacherLogits);
        var edges = zeros([], dtype: studentLayers[0].dtype);
        for (int l = 0; l < studentLayers.Count; l++)
            edges = edges + IrgEdgeLoss(studentLayers[l], pairing == IrgPairing.OneToOne ? teacherLayers[l] : teacherLayers[teacherLayers.Count - 1], differentiateMax);
        total = total + edgeWeight * edges / studentLayers.Count;
        if (studentLayers.Count >= 2 && teacherLayers.Count == studentLayers.Count)
        {
            var trans = zeros([], dtype: studentLayers[0].dtype);
            for (int l = 0; l + 1 < studentLayers.Count; l++)
                trans = trans + IrgTransformationLoss(studentLayers[l], studentLayers[l + 1], teacherLayers[l], teacherLayers[l + 1], differentiateMax);
            total = total + transformationWeight * trans / (studentLayers.Count - 1);
        }
        return total;
    }
}
