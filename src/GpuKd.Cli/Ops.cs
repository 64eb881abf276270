using GpuKd.Reference;
using static TorchSharp.torch;

namespace GpuKd.Cli;

/// <summary>
/// One variant of a relation op: the GpuKd call and the ReferenceOps composition that
/// must agree with it, plus the peak-extra-memory model of each (in elements).
/// </summary>
/// <param name="Name">Short label printed in the tables.</param>
/// <param name="GpuKd">The fused op (gpukd.functional).</param>
/// <param name="Reference">The published composition (ReferenceOps).</param>
/// <param name="GpuKdExtra">Elements GpuKd materialises for forward+backward at (b, D),
/// from the "Peak extra memory" remarks in functional.cs.</param>
/// <param name="ReferenceExtra">Elements the reference materialises at (b, D): every
/// intermediate of the composition (a TorchSharp tensor lives until its dispose scope
/// ends, so they are all alive at once) plus its largest backward gradient buffers.</param>
internal sealed record OpVariant(
    string Name,
    Func<Tensor, Tensor> GpuKd,
    Func<Tensor, Tensor> Reference,
    Func<long, long, long> GpuKdExtra,
    Func<long, long, long> ReferenceExtra);

internal static class Ops
{
    // Element counts exclude what both sides must hold anyway: the input x, its gradient
    // and the upstream gradient. The output is included on both sides.

    public static readonly OpVariant Gram = new(
        "gram",
        x => gpukd.functional.gram_matrix(x),
        x => ReferenceOps.GramMatrix(x),
        // output b×b; backward one b×b gradient buffer
        (b, d) => 2 * b * b,
        // output b×b; mm's backward: a second b×D operand gradient before accumulation
        (b, d) => b * b + b * d);

    public static readonly OpVariant GramNormalized = new(
        "gram normalize_rows",
        x => gpukd.functional.gram_matrix(x, normalize_rows: true),
        x => ReferenceOps.GramMatrix(x, normalizeRows: true),
        (b, d) => 2 * b * b,
        // G, output, two b-vectors (norm, clamp); backward: gradient of G and a b×D operand gradient
        (b, d) => 3 * b * b + b * d + 2 * b);

    public static readonly OpVariant Cosine = new(
        "cosine",
        x => gpukd.functional.cosine_similarity_matrix(x),
        x => ReferenceOps.CosineSimilarityMatrix(x),
        // normalised features b×D (kept), output b×b; backward one b×D buffer
        (b, d) => b * b + 2 * b * d,
        // normalised features b×D, norms b, output b×b; backward: two b×D operand gradients
        (b, d) => b * b + 3 * b * d + 2 * b);

    public static readonly OpVariant CosineBatched = Cosine with { Name = "cosine [B,N,C]" };

    public static readonly OpVariant Pdist = new(
        "pdist",
        x => gpukd.functional.pairwise_distances(x),
        x => ReferenceOps.PairwiseDistances(x),
        // centred features b×D, output b×b, one b×b buffer
        (b, d) => 2 * b * b + b * d,
        // x² (b×D), norms b, then prod, sum, 2·prod, difference, clamp, sqrt, clone, output
        // (8 b×b; the bool eye not counted); backward: one b×b gradient, one b×D operand gradient
        (b, d) => 9 * b * b + 2 * b * d + b);

    public static readonly OpVariant PdistSquared = new(
        "pdist squared",
        x => gpukd.functional.pairwise_distances(x, squared: true),
        x => ReferenceOps.PairwiseDistances(x, squared: true),
        (b, d) => 2 * b * b + b * d,
        (b, d) => 8 * b * b + 2 * b * d + b); // as pdist, without the sqrt

    public static readonly OpVariant Angles = new(
        "triplet angles",
        x => gpukd.functional.triplet_angles(x),
        x => ReferenceOps.TripletAngles(x),
        // output b³, centred features b×D, O(b²) scratch (counted as 4 b×b buffers)
        (b, d) => b * b * b + b * d + 4 * b * b,
        // differences b×b×D and their normalised copy b×b×D, norms b×b (twice), output b³;
        // backward: the bmm's two b×b×D operand gradients
        (b, d) => b * b * b + 4 * b * b * d + 2 * b * b);
}
