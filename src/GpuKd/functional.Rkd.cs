using GpuKd.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd;

#pragma warning disable CS8981
public static partial class gpukd
#pragma warning restore CS8981
{
#pragma warning disable IDE1006, CS8981
    public static partial class functional
#pragma warning restore IDE1006, CS8981
    {
        /// <summary>
        /// RKD distance-wise loss (Park et al., the authors' code): ψ = pdist(x)/μ with μ the
        /// mean of the positive distances, loss = smooth-L1 (β = 1) between ψ of the student
        /// and of the teacher, mean over all b² entries (diagonal included).
        /// </summary>
        /// <param name="student">[b, …] flattened to [b, Ds]; b ≥ 2.</param>
        /// <param name="teacher">[b, …] flattened to [b, Dt] (Dt may differ from Ds); same dtype and device.</param>
        /// <param name="reduction">Mean (default, the authors' mean over the b² entries, diagonal included) or Sum (their
        /// sum). None is refused (<see cref="ArgumentException"/> naming <c>reduction</c>): the b² per-entry terms are
        /// reduced in the fused epilogue and never stored (compose them from <see cref="pairwise_distances"/> if needed).</param>
        /// <returns>A scalar. Gradients flow to each input that requires one; the student's μ
        /// carries gradient as in the authors' code (the teacher's too, if it requires one).</returns>
        /// <remarks>
        /// Cost: one Gram per side (b²D, GEMM) and O(b²) epilogues; backward one product per
        /// side (2b²D). Peak extra memory: per side the centred features (b×D) and O(b²)
        /// (distances, the gradient of the Gram) — the reference's is the same order; this
        /// op's gain is fewer passes. Features are centred first (float32-safe with large offsets).
        /// </remarks>
        public static Tensor rkd_distance_loss(Tensor student, Tensor teacher, nn.Reduction reduction = nn.Reduction.Mean)
        {
            Reductions.MeanOrSum(reduction, nameof(rkd_distance_loss), "the b² smooth-L1 differences of the normalised distances");
            return Precision.Lift(["student", "teacher"], [student, teacher], xs => RkdDistanceLoss.Apply(xs[0], xs[1], reduction));
        }

        /// <summary>
        /// RKD angle-wise loss (Park et al., the authors' code): for every apex a and legs b, c,
        /// ψ_abc = cos of the angle at x_a between x_b and x_c (0 where b = a or c = a), loss =
        /// smooth-L1 (β = 1) between student and teacher ψ, mean over all b³ entries.
        /// </summary>
        /// <param name="student">[b, …] flattened to [b, Ds].</param>
        /// <param name="teacher">[b, …] flattened to [b, Dt]; same batch, dtype and device.</param>
        /// <param name="reduction">Mean (default, the authors' mean over the b³ triplets (a, b, c), degenerate ones
        /// included) or Sum (their sum). None is refused (<see cref="ArgumentException"/> naming <c>reduction</c>): it would
        /// materialise the b³ tensor this op exists to avoid.</param>
        /// <returns>A scalar; gradients to each input that requires one.</returns>
        /// <remarks>
        /// Computed from the Gram matrices of the centred features: O(b²D) for two GEMMs plus
        /// O(b³) scalar work, and O(b²) memory — the reference materialises b×b×D differences
        /// and a b×b×b angle tensor per side (9.5 GB at b = 512, D = 2048). Peak extra memory:
        /// per side the centred features (b×D) and four b² tables; backward five b² buffers.
        /// Deterministic: every partial sum has one owner and a fixed order.
        /// A duplicated student sample (a leg of length 0) passes no gradient along that leg,
        /// where the reference's gradient is ~1e12 × upstream.
        /// Float32: the squared norms and leg lengths are computed in double (O(bD + b²)) and the Gram is rewritten in place
        /// as a pseudo-Gram whose diagonal is exact in float32 (the same angles; kernels/Maths/AngleMath), the O(b³) passes
        /// stay float32 — within 1e-4 of a float64 evaluation and not less accurate than the published composition run in
        /// float32, student ≈ teacher included (docs/design-notes.md). No extra memory for it.
        /// </remarks>
        public static Tensor rkd_angle_loss(Tensor student, Tensor teacher, nn.Reduction reduction = nn.Reduction.Mean)
        {
            Reductions.MeanOrSum(reduction, nameof(rkd_angle_loss), "the b³ smooth-L1 differences of the triplet-angle cosines");
            return Precision.Lift(["student", "teacher"], [student, teacher], xs => RkdAngleLoss.Apply(xs[0], xs[1], reduction));
        }
    }
}
