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
}
