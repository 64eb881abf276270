using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Reference;

/// <summary>
/// The published reference compositions (REFERENCE.md), written as plain TorchSharp ops,
/// independently of GpuKd's kernels. They are the oracles of the tests, the baselines of
/// the benchmarks and of <c>gpukd check</c>. They materialise what the papers' code
/// materialises (b×b×D differences, b³ angles), so keep them to small sizes.
/// </summary>
internal static class ReferenceOps
{
    /// <summary>F.normalize(x, p=2, dim=-1, eps): x / max(‖x‖, eps) along the last axis.</summary>
    public static Tensor Normalize(Tensor x, double eps = 1e-12)
        => x / x.norm(-1, keepdim: true).clamp_min(eps);

    /// <summary>Batch Gram matrix of x [b, …] flattened to [b, D]; with
    /// <paramref name="normalizeRows"/> the SP-KD normalisation of each row.</summary>
    public static Tensor GramMatrix(Tensor x, bool normalizeRows = false)
    {
        var f = x.reshape(x.shape[0], -1);
        var g = f.mm(f.t());
        return normalizeRows ? Normalize(g) : g;
    }

    /// <summary>Cosine-similarity matrix: [b, D] → [b, b], or [B, N, C] → [B, N, N].</summary>
    public static Tensor CosineSimilarityMatrix(Tensor x, double eps = 1e-12)
    {
        var n = Normalize(x, eps);
        return x.dim() == 3 ? n.bmm(n.transpose(1, 2)) : n.mm(n.t());
    }

    /// <summary>RKD's pdist: (‖x_i‖² + ‖x_j‖² − 2x_i·x_j).clamp(1e-12), √ unless squared,
    /// diagonal set to 0 (authors' code).</summary>
    public static Tensor PairwiseDistances(Tensor x, bool squared = false, double eps = 1e-12)
    {
        var e = x.reshape(x.shape[0], -1);
        var eSquare = e.pow(2).sum(1);
        var prod = e.mm(e.t());
        var res = (eSquare.unsqueeze(1) + eSquare.unsqueeze(0) - 2 * prod).clamp_min(eps);
        if (!squared) res = res.sqrt();
        res = res.clone();
        var b = x.shape[0];
        var eye = torch.eye(b, dtype: ScalarType.Bool, device: x.device);
        return res.masked_fill(eye, 0.0);
    }

    /// <summary>RKD angles: e[a,c] = x_c − x_a normalised (eps 1e-12), A[a,c,d] = e[a,c]·e[a,d].
    /// Materialises b×b×D and b³, as the authors' code does.</summary>
    /// <param name="x">[b, …] features.</param>
    /// <param name="maskSelfLegs">
    /// false: the authors' code exactly. Its gradient is numerically noisy even in float64
    /// (relative error ~1e-5–1e-4 against central differences): the zero legs e[a,a] go
    /// through F.normalize's 1/eps = 1e12 in the backward, and those contributions cancel
    /// only up to rounding. true: the same values, with e[a,a] multiplied by 0 before the
    /// normalisation so that no gradient flows through the degenerate legs — the oracle
    /// the gradient tests use.
    /// </param>
    public static Tensor TripletAngles(Tensor x, bool maskSelfLegs = false)
    {
        var e = x.reshape(x.shape[0], -1);
        var td = e.unsqueeze(0) - e.unsqueeze(1);   // td[a, c] = x_c − x_a
        if (maskSelfLegs)
        {
            var offDiagonal = 1.0 - torch.eye(x.shape[0], dtype: x.dtype, device: x.device);
            td = td * offDiagonal.unsqueeze(-1);
        }
        var normTd = Normalize(td);
        return normTd.bmm(normTd.transpose(1, 2));
    }

    /// <summary>RKD distance loss, authors' code: ψ = pdist/mean(pdist[pdist &gt; 0]) per side,
    /// smooth-L1 mean over b². The teacher side has no gradient unless it requires one.</summary>
    public static Tensor RkdDistanceLoss(Tensor student, Tensor teacher)
    {
        static Tensor Normalised(Tensor x)
        {
            var d = PairwiseDistances(x);
            return d / d.masked_select(d > 0).mean();
        }
        return SmoothL1Mean(Normalised(student), Normalised(teacher));
    }

    /// <summary>RKD angle loss, authors' code: smooth-L1 mean over the b³ angles of each side
    /// (see <see cref="TripletAngles"/> for <paramref name="maskSelfLegs"/>).</summary>
    public static Tensor RkdAngleLoss(Tensor student, Tensor teacher, bool maskSelfLegs = false)
        => SmoothL1Mean(TripletAngles(student, maskSelfLegs).reshape(-1), TripletAngles(teacher, maskSelfLegs).reshape(-1));

    /// <summary>Smooth-L1 (Huber, β = 1), mean over every entry.</summary>
    public static Tensor SmoothL1Mean(Tensor input, Tensor target)
        => nn.functional.smooth_l1_loss(input, target, reduction: nn.Reduction.Mean);
}
