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
}
