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
    /// <summary>A fixed teacher for a loss checked as a function of the student: [b, D + 3]
    /// drawn in float64 from a seed and cast to the student's dtype (so the float64 oracle
    /// sees the float32 run's teacher up to one rounding).</summary>
    static Tensor TeacherFor(Tensor student) => Fixed("teacher", student, () =>
    {
        var g = new TorchSharp.torch.Generator(777);
        var rows = student.reshape(student.shape[0], -1);
        return randn([rows.shape[0], rows.shape[1] + 3], ScalarType.Float64, generator: g).to(student.dtype);
    });

    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Tensor> FixedTensors = new();

    /// <summary>A fixed partner tensor (seeded, a function of the student's shape and dtype only) made once and kept:
    /// drawing it inside the timed forward + backward (a float64 randn of the whole input, ≈ 1–3 ms at the bench's sizes)
    /// added the same constant to both columns of <c>bench</c> and pulled every ratio towards 1. Never disposed (a few
    /// shapes per run); never written (the ops do not modify their inputs).</summary>
    static Tensor Fixed(string kind, Tensor like, Func<Tensor> make)
        => FixedTensors.GetOrAdd($"{kind} {like.dtype} [{string.Join(",", like.shape)}]", _ =>
        {
            using var scope = NewDisposeScope();
            return make().MoveToOuterDisposeScope().DetachFromDisposeScope();
        });

    /// <summary>The teacher of the student ≈ teacher rows: [b, D] from a fixed seed (the student is drawn as it plus 1%
    /// noise, <see cref="Check"/>).</summary>
    internal static Tensor NearTeacher(long[] shape, ScalarType dtype)
    {
        var g = new TorchSharp.torch.Generator(778);
        return randn(shape, ScalarType.Float64, generator: g).to(dtype);
    }

    static Tensor NearTeacherFor(Tensor student) => Fixed("near", student, () => NearTeacher(student.shape, student.dtype));

    /// <summary>A loss variant whose teacher is <see cref="NearTeacher"/> (the student ≈ teacher rows of <c>check</c>).</summary>
    internal static OpVariant NearTeacherVariant(OpVariant op, Func<Tensor, Tensor, Tensor> ours, Func<Tensor, Tensor, Tensor> reference)
        => op with { GpuKd = x => ours(x, NearTeacherFor(x)), Reference = x => reference(x, NearTeacherFor(x)) };

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

    public static readonly OpVariant RkdDistance = new(
        "rkd distance loss",
        x => gpukd.functional.rkd_distance_loss(x, TeacherFor(x)),
        x => ReferenceOps.RkdDistanceLoss(x, TeacherFor(x)),
        // per side centred features b×D and distances b×b; backward d̄, Ḡ
        (b, d) => 2 * (b * d + b * b) + 2 * b * b,
        // per side pdist's 9 b×b and 2 b×D (as pdist), ψ; smooth-L1 terms; backward b×b gradients
        (b, d) => 2 * (10 * b * b + 2 * b * d) + 3 * b * b);

    /// <summary>Checked against the authors' composition with the self-legs masked (same values;
    /// the plain one's float64 gradient carries ~1e-4 round-off, docs/design-notes.md).</summary>
    public static readonly OpVariant RkdAngle = new(
        "rkd angle loss",
        x => gpukd.functional.rkd_angle_loss(x, TeacherFor(x)),
        x => ReferenceOps.RkdAngleLoss(x, TeacherFor(x), maskSelfLegs: true),
        // per side centred features b×D and G, inv, ginv (b² each); backward 5 b² buffers
        (b, d) => 2 * (b * d + 3 * b * b) + 5 * b * b,
        // per side differences and their normalised copy (2 b×b×D), b³ angles; the student's
        // backward: two b×b×D gradients and a b³ one
        (b, d) => 2 * (2 * b * b * d + b * b * b) + 2 * b * b * d + b * b * b);

    public static readonly OpVariant Sp = new(
        "sp loss",
        x => gpukd.functional.sp_loss(x, TeacherFor(x)),
        x => ReferenceLosses.SpLoss(x, TeacherFor(x)),
        // per side the raw Gram (kept) and its norms; backward one b×b buffer
        (b, d) => 3 * b * b + 2 * b,
        // per side G and its normalised copy, difference and square; backward b×b gradients and a b×D operand gradient
        (b, d) => 12 * b * b + 2 * b * d);

    public static readonly OpVariant Cc = new(
        "cc loss (Taylor RBF)",
        x => gpukd.functional.cc_loss(x, TeacherFor(x)),
        x => ReferenceLosses.CcLoss(x, TeacherFor(x)),
        // per side normalised features (kept) and A; backward one b×b buffer
        (b, d) => 2 * b * d + 3 * b * b,
        // per side normalised features, similarity, the Taylor terms and the kernel; backward their gradients
        (b, d) => 16 * b * b + 4 * b * d);

    /// <summary>The other three maps of an IRG transformation check around a student l1 map x [b, C, H, W]: student l2
    /// [b, 2C, ⌊H/2⌋, ⌊W/2⌋] (adaptive pooling, not an integer ratio for odd sizes; l2's channel pairs folded), and a
    /// teacher l1 / l2 pair of the same shapes, fixed from a seed in x's dtype.</summary>
    static (Tensor To, Tensor TeacherFrom, Tensor TeacherTo) TransformationPartners(Tensor x)
    {
        // The three drawn from one generator in order, kept together (see Fixed).
        var all = Fixed("irg-t", x, () =>
        {
            var g = new TorchSharp.torch.Generator(778);
            long b = x.shape[0], c = x.shape[1], h = Math.Max(1, x.shape[2] / 2), w = Math.Max(1, x.shape[3] / 2);
            Tensor R(params long[] s) => randn(s, ScalarType.Float64, generator: g).to(x.dtype);
            return cat([R(b, 2 * c, h, w).flatten(), R(b, c, x.shape[2], x.shape[3]).flatten(), R(b, 2 * c, h, w).flatten()]);
        });
        long b = x.shape[0], c = x.shape[1], h = Math.Max(1, x.shape[2] / 2), w = Math.Max(1, x.shape[3] / 2);
        long nTo = b * 2 * c * h * w, nFrom = b * c * x.shape[2] * x.shape[3];
        return (all.narrow(0, 0, nTo).view(b, 2 * c, h, w), all.narrow(0, nTo, nFrom).view(b, c, x.shape[2], x.shape[3]),
                all.narrow(0, nTo + nFrom, nTo).view(b, 2 * c, h, w));
    }

    public static readonly OpVariant IrgTransformation = new(
        "irg transformation",
        x => { var (to, tf, tt) = TransformationPartners(x); return gpukd.functional.irg_transformation_loss(x, to, tf, tt); },
        x => { var (to, tf, tt) = TransformationPartners(x); return ReferenceLosses.IrgTransformationLoss(x, to, tf, tt); },
        // libtorch compositions: pooled maps and per-sample vectors, O(bD) on both sides
        (b, d) => 3 * b * d,
        (b, d) => 3 * b * d);

    public static readonly OpVariant IrgEdge = new(
        "irg edge loss",
        x => gpukd.functional.irg_edge_loss(x, TeacherFor(x)),
        x => ReferenceLosses.IrgEdgeLoss(x, TeacherFor(x)),
        // per side centred features and Gram (kept); backward one b×b buffer
        (b, d) => 2 * b * d + 3 * b * b,
        // per side pdist's b×b temporaries, the normalised edge matrix; backward b×b gradients
        (b, d) => 16 * b * b + 2 * b * d);

    /// <summary>A teacher map for a student map x [B, C, H, W]: [B, C + 3, H, W] (pair-wise) or x's shape (pixel-wise), seeded.</summary>
    static Tensor TeacherMapFor(Tensor x, bool sameChannels) => Fixed($"map {sameChannels}", x, () =>
    {
        var g = new TorchSharp.torch.Generator(778);
        long c = sameChannels ? x.shape[1] : x.shape[1] + 3;
        return (2 * randn([x.shape[0], c, x.shape[2], x.shape[3]], ScalarType.Float64, generator: g)).to(x.dtype);
    });

    // Structured KD (b = images, d = C·H·W per image; N = H·W nodes, counted here for the full-resolution row).
    public static readonly OpVariant SkdPairwise = new(
        "skd pairwise (max pool)",
        x => gpukd.functional.skd_pairwise_loss(x, TeacherMapFor(x, false)),
        x => ReferenceSkd.PairwiseLoss(x, TeacherMapFor(x, false)),
        (b, d) => 2 * b * d, (b, d) => 2 * b * d);

    /// <summary>Channels of the student map in the bench row of <see cref="SkdPairwiseFull"/> (its estimates recover
    /// N = d / channels from d = C·H·W).</summary>
    public const long SkdBenchChannels = 32;

    public static readonly OpVariant SkdPairwiseFull = new(
        "skd pairwise (full res)",
        x => gpukd.functional.skd_pairwise_loss(x, TeacherMapFor(x, false), pool: SkdPool.None),
        x => ReferenceSkd.PairwiseLoss(x, TeacherMapFor(x, false), pool: SkdPool.None),
        // float64 Grams Cs² + Cs·Ct per image (2 floats each) and a pixel chunk of both sides' float64 nodes
        (b, d) => 2 * b * (SkdBenchChannels * SkdBenchChannels + SkdBenchChannels * (SkdBenchChannels + 3)) + 4 * d / SkdBenchChannels * (2 * SkdBenchChannels + 3),
        // per image A_S, A_T, difference, square, and two N×N gradients
        (b, d) => 6 * b * (d / SkdBenchChannels) * (d / SkdBenchChannels));

    public static readonly OpVariant SkdPixelwise = new(
        "skd pixelwise",
        x => gpukd.functional.skd_pixelwise_loss(x, TeacherMapFor(x, true)),
        x => ReferenceSkd.PixelwiseLoss(x, TeacherMapFor(x, true)),
        // GpuKd: per-pixel terms (B·H·W doubles) ≤ b·d; the reference: log-softmax of each side and the product
        (b, d) => b * d / 4, (b, d) => 3 * b * d);

    // Issue 16 (b = images, d = C·H·W per image). Element estimates are coarse (C is not recoverable from d): per side
    // the Grams B·C² ≤ b·d for C ≤ H·W.
    public static readonly OpVariant Ickd = new(
        "ickd loss",
        x => gpukd.functional.ickd_loss(x, TeacherMapFor(x, true)),
        x => ReferenceChannelLosses.IckdLoss(x, TeacherMapFor(x, true)),
        // per side the Gram and norms; backward Ḡ and its symmetrised copy
        (b, d) => 4 * b * d,
        // per side the Gram, its normalised copy, difference, square; backward their gradients and the bmm's two operand gradients
        (b, d) => 10 * b * d);

    /// <summary>NST against a seeded teacher map of C + 3 channels and x's size.</summary>
    public static readonly OpVariant Nst = new(
        "nst loss",
        x => gpukd.functional.nst_loss(x, TeacherMapFor(x, false)),
        x => ReferenceChannelLosses.NstLoss(x, TeacherMapFor(x, false)),
        // channel Grams and the gradient's row buffer
        (b, d) => 3 * b * d,
        // three [B, C, C′, H·W] products and two of their gradients (coarse: C·C′·N ≈ C·d)
        (b, d) => 5 * b * d * 8);

    /// <summary>DIST against seeded teacher logits of x's shape (same K).</summary>
    public static readonly OpVariant Dist = new(
        "dist loss",
        x => gpukd.functional.dist_loss(x, TeacherLogitsFor(x), 1, 1, 2),
        x => ReferenceChannelLosses.DistLoss(x, TeacherLogitsFor(x), 1, 1, 2),
        // the two softmaxes (kept) and the gradient; statistics O(b + K)
        (b, d) => 3 * b * d,
        // per side z/τ, softmax, row- and column-centred copies, cosine_similarity's normalised copies and products; backward gradients
        (b, d) => 24 * b * d);

    /// <summary>Teacher logits of the student's shape from a fixed seed (DIST needs the same K).</summary>
    static Tensor TeacherLogitsFor(Tensor student)
    {
        var g = new TorchSharp.torch.Generator(779);
        return (randn(student.shape, ScalarType.Float64, generator: g) * 3).to(student.dtype);
    }

    /// <summary>FSP with x as the student's bot layer; its top [B, C + 2, ⌈H/2⌉, ⌈H/2⌉] (x pooled to it, 5×5 → 3×3 not
    /// divisible) and the teacher's two layers (C and C + 2 channels, x's and the top's sizes) seeded.</summary>
    static (Tensor[] S, Tensor[] T) FspLayersFor(Tensor x)
    {
        long b = x.shape[0], c = x.shape[1], h = (x.shape[2] + 1) / 2;
        Tensor Seeded(long[] shape, ulong seed) => randn(shape, ScalarType.Float64, generator: new TorchSharp.torch.Generator(seed)).to(x.dtype);
        return ([x, Seeded([b, c + 2, h, h], 781)], [Seeded([b, c, x.shape[2], x.shape[3]], 782), Seeded([b, c + 2, h, h], 783)]);
    }

    public static readonly OpVariant Fsp = new(
        "fsp loss",
        x => { var (s, t) = FspLayersFor(x); return gpukd.functional.fsp_loss(s, t); },
        x => { var (s, t) = FspLayersFor(x); return ReferenceChannelLosses.FspLoss(s, t); },
        // the pooled map, D and the two products [B, C+2, C] (≤ b·d), the gradient's buffers
        (b, d) => 3 * b * d,
        // the [B, C+2, C, N] product per side and its gradients (coarse: C·C′·N ≈ C·d)
        (b, d) => 4 * b * d * 8);

    public static readonly OpVariant Pkt = new(
        "pkt loss",
        x => gpukd.functional.pkt_loss(x, TeacherFor(x)),
        x => ReferenceChannelLosses.PktLoss(x, TeacherFor(x)),
        // per side unit rows (kept) and S; backward one b×b and one b×D buffer
        (b, d) => 2 * b * d + 3 * b * b,
        // per side the normalised copy, S and its scaled / normalised copies, the KL's ratio, log, product; backward gradients
        (b, d) => 16 * b * b + 4 * b * d);
}
