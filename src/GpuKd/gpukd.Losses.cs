using GpuKd.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd;

// The loss modules, one rule (PyTorch's and TorchSharp's): the factory is named like the module type it returns,
// `<ACRONYM>Loss` with the acronym upper case (as nn.NLLLoss, nn.KLDivLoss), or `<Words><ACRONYM>Loss`; every
// module derives from TorchSharp's Loss<…> (so it exposes `reduction`), and every factory takes
// `nn.Reduction reduction = Mean` last. Each functional `*_loss` takes the same `reduction`. New losses (PKTLoss,
// NSTLoss, FSPLoss, ICKDLoss, DISTLoss) follow it; `LossApiTests` checks the rule by reflection.
#pragma warning disable CS8981
public static partial class gpukd
#pragma warning restore CS8981
{
    /// <summary>
    /// The RKD loss module: <c>distance_weight · rkd_distance_loss + angle_weight · rkd_angle_loss</c>
    /// (defaults 25 and 50, the paper's). A zero weight skips that term.
    /// </summary>
    /// <param name="distance_weight">Weight of the distance-wise term (≥ 0).</param>
    /// <param name="angle_weight">Weight of the angle-wise term (≥ 0).</param>
    /// <param name="reduction">Mean (default: over the b² distance entries and the b³ angle triplets) or Sum (their
    /// sums); None is refused (<see cref="ArgumentException"/> naming <c>reduction</c>).</param>
    public static RKDLoss RKDLoss(double distance_weight = 25, double angle_weight = 50, nn.Reduction reduction = nn.Reduction.Mean)
        => new(distance_weight, angle_weight, reduction);

    /// <summary>The similarity-preserving KD loss module: <c>loss = gpukd.SPLoss().call(student, teacher)</c>.</summary>
    /// <param name="reduction">Mean (default, the authors': over the b² Gram entries) or Sum; None is refused.</param>
    public static SPLoss SPLoss(nn.Reduction reduction = nn.Reduction.Mean) => new(reduction);

    /// <summary>The correlation-congruence KD loss module (options as <see cref="functional.cc_loss"/>).</summary>
    /// <param name="kernel">The kernel function f.</param>
    /// <param name="gamma">RBF γ ≥ 0.</param>
    /// <param name="order">Taylor order P ≥ 0.</param>
    /// <param name="reduction">Mean (default: over the b² kernel entries) or Sum; None is refused.</param>
    public static CCLoss CCLoss(CcKernel kernel = CcKernel.TaylorRbf, double gamma = 0.4, int order = 2, nn.Reduction reduction = nn.Reduction.Mean)
        => new(kernel, gamma, order, reduction);

    /// <summary>The IRG loss module (options as <see cref="functional.irg_loss"/>). KD-Zoo's published
    /// <c>IRG(0.1, 5, 5)</c> over <c>[fm1, fm2, feat, out]</c> is <c>gpukd.IRGLoss(transitions: [(0, 1)])</c> called with
    /// <c>new IrgFeatures([fm1, fm2, feat], out)</c> for each network.</summary>
    /// <param name="pairing">Layer pairing of the edge loss.</param>
    /// <param name="vertex_weight">Weight of the vertex (logits) term.</param>
    /// <param name="edge_weight">Weight of the edge term (averaged over the layer pairs).</param>
    /// <param name="transformation_weight">Weight of the transformation term (averaged over the transitions).</param>
    /// <param name="differentiate_max">Whether the max normalisations carry gradient.</param>
    /// <param name="transitions">The IRG-t layer transitions (null: every consecutive pair).</param>
    /// <param name="reduction">Applied to each part's terms (vertex: b·K, edge: b² per pair, transformation: b per
    /// transition): Mean (default, the published) or Sum; None is refused.</param>
    public static IRGLoss IRGLoss(IrgPairing pairing = IrgPairing.OneToOne, double vertex_weight = 0.1, double edge_weight = 5,
        double transformation_weight = 5, bool differentiate_max = true, IReadOnlyList<(int from, int to)>? transitions = null,
        nn.Reduction reduction = nn.Reduction.Mean)
        => new(pairing, vertex_weight, edge_weight, transformation_weight, differentiate_max, transitions, reduction);

    /// <summary>
    /// The structured-KD loss module: pixel_weight · skd_pixelwise_loss(logits) + pair_weight · skd_pairwise_loss(features)
    /// (defaults 10 and 1, the paper's; pool and scale as in <see cref="functional.skd_pairwise_loss"/>). A zero weight skips that term.
    /// </summary>
    /// <param name="pixel_weight">Weight of the pixel-wise term (≥ 0).</param>
    /// <param name="pair_weight">Weight of the pair-wise term (≥ 0).</param>
    /// <param name="scale">Pooling window fraction of the pair-wise term, in (0, 1].</param>
    /// <param name="pool">Node pooling of the pair-wise term.</param>
    /// <param name="temperature">Softmax temperature of the pixel-wise term (&gt; 0).</param>
    /// <param name="reduction">Mean (default: the published normalisations) or Sum (pixel-wise: its B·H·W pixel terms
    /// summed; pair-wise: its B·N² entries summed); None is refused.</param>
    public static StructuredKDLoss StructuredKDLoss(double pixel_weight = 10, double pair_weight = 1, double scale = 0.5, SkdPool pool = SkdPool.Max,
        double temperature = 1, nn.Reduction reduction = nn.Reduction.Mean)
        => new(pixel_weight, pair_weight, scale, pool, temperature, reduction);
}
