using GpuKd.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Float64 oracles with GpuKd's documented gradient at degenerate points, otherwise the
/// <see cref="ReferenceOps"/> compositions verbatim. The reference divides by max(‖v‖, ε), so a
/// vector with ‖v‖ ≤ ε (a zero sample, a leg x_b − x_a = 0, the apex's own leg x_a − x_a) gets a
/// 1/ε ≈ 1e12 gradient. GpuKd's contract: same value, no gradient through that normalisation.
/// Here such a vector is divided by ε with v detached — bit-identical values, zero gradient there.
/// Elsewhere the gradient is the reference's, and free of the 1e12-scale round-off that the
/// always-degenerate apex leg feeds into the reference's triplet-angle gradient.
/// </summary>
public static class DegenerateAwareOracle
{
    /// <summary>v / ‖v‖ where ‖v‖ &gt; ε; v.detach() / ε (no gradient) where ‖v‖ ≤ ε. Last axis.</summary>
    public static Tensor Normalize(Tensor v, double eps = 1e-12)
    {
        var norm = v.norm(-1, keepdim: true);
        var regular = norm > eps;
        // The unused branch must not produce inf·0 = NaN in the backward: divide it by 1 instead.
        var safeNorm = where(regular, norm, ones_like(norm));
        return where(regular, v / safeNorm, v.detach() / eps);
    }

    public static Tensor GramMatrix(Tensor x, bool normalizeRows = false)
    {
        var f = x.reshape(x.shape[0], -1);
        var g = f.mm(f.t());
        return normalizeRows ? Normalize(g) : g;
    }

    public static Tensor CosineSimilarityMatrix(Tensor x, double eps = 1e-12)
    {
        var n = Normalize(x, eps);
        return x.dim() == 3 ? n.bmm(n.transpose(1, 2)) : n.mm(n.t());
    }

    /// <summary>No normalisation to guard: the clamp already passes no gradient at q ≤ 1e-12.</summary>
    public static Tensor PairwiseDistances(Tensor x, bool squared = false) => ReferenceOps.PairwiseDistances(x, squared);

    public static Tensor TripletAngles(Tensor x)
    {
        var e = x.reshape(x.shape[0], -1);
        var u = Normalize(e.unsqueeze(0) - e.unsqueeze(1));   // u[a, c] = (x_c − x_a)/‖·‖
        return u.bmm(u.transpose(1, 2));
    }
}
