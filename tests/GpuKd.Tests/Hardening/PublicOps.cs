using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// One public call of the library as the hardening tests see it (issue 8): its tensor arguments by
/// name, how to build valid inputs for a batch of b, and how to call it. The validation, extreme-scale,
/// determinism, concurrency and soak tests run over every row of <see cref="PublicOps"/>, so a new
/// op is one added row there.
/// </summary>
/// <param name="Name">Stable test-case name.</param>
/// <param name="Args">The tensor arguments in call order, named as the op names them in its exceptions.</param>
/// <param name="Call">Calls the op on inputs in <paramref name="Args"/> order.</param>
/// <param name="Shapes">Valid input shapes for a batch of b, one per argument.</param>
public sealed record PublicOp(string Name, string[] Args, Func<Tensor[], Tensor> Call, Func<int, long[][]> Shapes)
{
    /// <summary>Smallest batch the op accepts; below it, an <see cref="ArgumentException"/> naming <see cref="MinBatchArg"/>.</summary>
    public int MinBatch { get; init; } = 1;

    /// <summary>The argument a too-small batch is blamed on.</summary>
    public string MinBatchArg { get; init; } = "student";

    /// <summary>
    /// Degree of homogeneity of the value in the inputs' scale s (value ∝ s^Degree): 0 for normalised
    /// relations and the losses on them, 1 for distances, 2 for the raw Gram, 4 for the raw bilinear CC.
    /// At an extreme scale the value (∝ s^Degree) and the gradient (∝ s^(Degree−1)) are promised finite
    /// wherever their true size is representable in the dtype (<see cref="ExtremeScaleTests"/>).
    /// </summary>
    public int Degree { get; init; }

    /// <summary>Relative tolerance of the scale-free check (value at 1e20 = value at 1) for a Degree-0 op that is
    /// scale-free only up to a fixed offset of its own (the structured-KD node norm + 1e-8: ~1e-8 at unit norms);
    /// null: the test's own bar.</summary>
    public double? ScaleFreeTolerance { get; init; }

    /// <summary>False for a Degree-0 op whose value is bounded but not scale-free (a softmax of the inputs: DIST): the extreme-scale
    /// sweep then checks finiteness only, not value(1e20·x) = value(x).</summary>
    public bool ScaleFree { get; init; } = true;

    /// <summary>For an op where −∞ is a meaningful input entry (a max-pooled feature that the window's max drops;
    /// a logit whose class has probability 0), the reference composition: a finite result for a −∞ entry must
    /// equal it (a right answer, not a silent wrong one). Null: every non-finite input must give a non-finite result.</summary>
    public Func<Tensor[], Tensor>? NegativeInfinityReference { get; init; }

    /// <summary>Fresh seeded inputs (float64 values cast to <paramref name="dtype"/>); <paramref name="widen"/> multiplies
    /// the last dimension of every argument (wider features for the timing-sensitive tests; every row's shapes allow it).</summary>
    public Tensor[] Inputs(int b, ScalarType dtype = ScalarType.Float64, int salt = 0, int widen = 1)
        => Shapes(b).Select((s, k) => GpuKd.Tests.Inputs.Randn([.. s[..^1], s[^1] * widen], dtype, salt + 31 * k)).ToArray();

    public override string ToString() => Name;
}

/// <summary>The table: every public tensor op of <c>gpukd.functional</c> (option variants where they take a different path).</summary>
public static class PublicOps
{
    static PublicOp Unary(string name, Func<Tensor, Tensor> f, int degree, bool batched = false)
        => new(name, ["x"], xs => f(xs[0]), b => [batched ? [2, b, 5] : [b, 5]]) { Degree = degree, MinBatchArg = "x" };

    static PublicOp Pair(string name, Func<Tensor, Tensor, Tensor> f, int minBatch = 1, int degree = 0)
        => new(name, ["student", "teacher"], xs => f(xs[0], xs[1]), b => [[b, 6], [b, 4]]) { Degree = degree, MinBatch = minBatch };

    // ── add new ops here (one row each) ──────────────────────────────────────────────────────────────────
    static readonly PublicOp[] All =
    [
        Unary("gram_matrix", x => gpukd.functional.gram_matrix(x), degree: 2),
        Unary("gram_matrix_normalize_rows", x => gpukd.functional.gram_matrix(x, normalize_rows: true), degree: 0),
        Unary("cosine_similarity_matrix", x => gpukd.functional.cosine_similarity_matrix(x), degree: 0),
        Unary("cosine_similarity_matrix_batched", x => gpukd.functional.cosine_similarity_matrix(x), degree: 0, batched: true),
        Unary("pairwise_distances", x => gpukd.functional.pairwise_distances(x), degree: 1),
        Unary("pairwise_distances_squared", x => gpukd.functional.pairwise_distances(x, squared: true), degree: 2),
        Unary("triplet_angles", x => gpukd.functional.triplet_angles(x), degree: 0),
        Pair("rkd_distance_loss", (s, t) => gpukd.functional.rkd_distance_loss(s, t), minBatch: 2),
        Pair("rkd_angle_loss", (s, t) => gpukd.functional.rkd_angle_loss(s, t)),
        Pair("sp_loss", (s, t) => gpukd.functional.sp_loss(s, t)),
        Pair("cc_loss", (s, t) => gpukd.functional.cc_loss(s, t)),
        Pair("cc_loss_rbf", (s, t) => gpukd.functional.cc_loss(s, t, CcKernel.Rbf)),
        Pair("cc_loss_bilinear_raw", (s, t) => gpukd.functional.cc_loss(s, t, CcKernel.BilinearRaw)) with { Degree = 4 },
        Pair("irg_edge_loss", (s, t) => gpukd.functional.irg_edge_loss(s, t)),
        Pair("irg_edge_loss_max_held", (s, t) => gpukd.functional.irg_edge_loss(s, t, differentiate_max: false)),
        new("irg_vertex_loss", ["student_logits", "teacher_logits"], xs => gpukd.functional.irg_vertex_loss(xs[0], xs[1]), b => [[b, 10], [b, 10]])
            { Degree = 2, MinBatchArg = "student_logits" },
        new("irg_transformation_loss", ["student_from", "student_to", "teacher_from", "teacher_to"],
            xs => gpukd.functional.irg_transformation_loss(xs[0], xs[1], xs[2], xs[3]), b => [[b, 4, 4, 4], [b, 8, 2, 2], [b, 6, 4, 4], [b, 6, 2, 2]])
            { MinBatchArg = "student_from" },
        // KD-Zoo's pooling: adaptive 5×5 → 2×2 (no integer ratio), l2's channel pairs folded (l1 has half l2's channels).
        new("irg_transformation_loss_adaptive", ["student_from", "student_to", "teacher_from", "teacher_to"],
            xs => gpukd.functional.irg_transformation_loss(xs[0], xs[1], xs[2], xs[3]), b => [[b, 3, 5, 5], [b, 6, 2, 2], [b, 4, 5, 5], [b, 8, 2, 2]])
            { MinBatchArg = "student_from" },
        // Structured KD: maps [b, C, H, W] (the pair-wise channel counts differ); odd map sizes on purpose.
        new("skd_pairwise_loss", ["student_feat", "teacher_feat"], xs => gpukd.functional.skd_pairwise_loss(xs[0], xs[1]),
            b => [[b, 4, 5, 3], [b, 6, 5, 3]])
            { MinBatchArg = "student_feat", ScaleFreeTolerance = 1e-7, NegativeInfinityReference = xs => Reference.ReferenceSkd.PairwiseLoss(xs[0], xs[1]) },
        new("skd_pairwise_loss_full_resolution", ["student_feat", "teacher_feat"], xs => gpukd.functional.skd_pairwise_loss(xs[0], xs[1], pool: SkdPool.None),
            b => [[b, 4, 3, 3], [b, 6, 3, 3]]) { MinBatchArg = "student_feat", ScaleFreeTolerance = 1e-7 },
        new("skd_pixelwise_loss", ["student_logits", "teacher_logits"], xs => gpukd.functional.skd_pixelwise_loss(xs[0], xs[1]),
            b => [[b, 5, 3, 3], [b, 5, 3, 3]])
            { Degree = 1, MinBatchArg = "student_logits", NegativeInfinityReference = xs => Reference.ReferenceSkd.PixelwiseLoss(xs[0], xs[1]) },
        // Issue 16: channel-relation losses on maps [b, C, H, W] (odd sizes; the spatial sizes differ between the sides).
        new("ickd_loss", ["student_feat", "teacher_feat"], xs => gpukd.functional.ickd_loss(xs[0], xs[1]),
            b => [[b, 4, 3, 5], [b, 4, 2, 3]]) { MinBatchArg = "student_feat" },
        // NST: Cs ≠ Ct, the student's map pooled (5×3 → 3×3 is not what the widening keeps: the teacher is square).
        new("nst_loss", ["student_feat", "teacher_feat"], xs => gpukd.functional.nst_loss(xs[0], xs[1]),
            b => [[b, 3, 4, 4], [b, 5, 3, 3]]) { MinBatchArg = "student_feat" },
        // PKT: u = x/(‖x‖ + 1e-7) is scale-free only up to the eps (~1e-7 relative at unit norms).
        Pair("pkt_loss", (s, t) => gpukd.functional.pkt_loss(s, t)) with { ScaleFreeTolerance = 1e-5 },
        // DIST: logits [b, K] of one shape; a softmax is not scale-free (Degree 0 only in that its value is bounded: 0 ≤ L ≤ 4).
        new("dist_loss", ["student_logits", "teacher_logits"], xs => gpukd.functional.dist_loss(xs[0], xs[1]), b => [[b, 7], [b, 7]])
            { MinBatchArg = "student_logits", ScaleFree = false, NegativeInfinityReference = xs => Reference.ReferenceChannelLosses.DistLoss(xs[0], xs[1]) },
        // FSP: two layers per side, the student's bot pooled (4×4 → 2×2), the teacher's at equal sizes; value ∝ s⁴.
        new("fsp_loss", ["student_layers", "student_layers", "teacher_layers", "teacher_layers"],
            xs => gpukd.functional.fsp_loss([xs[0], xs[1]], [xs[2], xs[3]]), b => [[b, 3, 4, 4], [b, 5, 2, 2], [b, 3, 3, 3], [b, 5, 3, 3]])
            { Degree = 4, MinBatchArg = "student_layers" },
    ];

    public static IEnumerable<string> Names => All.Select(c => c.Name);

    public static PublicOp Get(string name) => All.Single(c => c.Name == name);
}
