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
        /// <param name="reduction">Mean (default, the authors' mean over b²) or Sum.</param>
        /// <returns>A scalar. Gradients flow to each input that requires one; the student's μ
        /// carries gradient as in the authors' code (the teacher's too, if it requires one).</returns>
        /// <remarks>
        /// Cost: one Gram per side (b²D, GEMM) and O(b²) epilogues; backward one product per
        /// side (2b²D). Peak extra memory: per side the centred features (b×D) and O(b²)
        /// (distances, the gradient of the Gram) — the reference's is the same order; this
        /// op's gain is fewer passes. Features are centred first (float32-safe with large offsets).
        /// </remarks>
        public static Tensor rkd_distance_loss(Tensor student, Tensor teacher, nn.Reduction reduction = nn.Reduction.Mean)
            => Precision.Lift(["student", "teacher"], [student, teacher], xs => RkdDistanceLoss.Apply(xs[0], xs[1], reduction));

        /// <summary>
        /// RKD angle-wise loss (Park et al., the authors' code): for every apex a and legs b, c,
        /// ψ_abc = cos of the angle at x_a between x_b and x_c (0 where b = a or c = a), loss =
        /// smooth-L1 (β = 1) between student and teacher ψ, mean over all b³ entries.
        /// </summary>
        /// <param name="student">[b, …] flattened to [b, Ds].</param>
        /// <param name="teacher">[b, …] flattened to [b, Dt]; same batch, dtype and device.</param>
        /// <param name="reduction">Mean (default, over b³) or Sum.</param>
        /// <returns>A scalar; gradients to each input that requires one.</returns>
        /// <remarks>
        /// Computed from the Gram matrices of the centred features: O(b²D) for two GEMMs plus
        /// O(b³) scalar work, and O(b²) memory — the reference materialises b×b×D differences
        /// and a b×b×b angle tensor per side (9.5 GB at b = 512, D = 2048). Peak extra memory:
        /// per side the centred features (b×D) and four b² tables; backward five b² buffers.
        /// Deterministic: every partial sum has one owner and a fixed order.
        /// A duplicated student sample (a leg of length 0) passes no gradient along that leg,
        /// where the reference's gradient is ~1e12 × upstream.
        /// </remarks>
        public static Tensor rkd_angle_loss(Tensor student, Tensor teacher, nn.Reduction reduction = nn.Reduction.Mean)
            => Precision.Lift(["student", "teacher"], [student, teacher], xs => RkdAngleLoss.Apply(xs[0], xs[1], reduction));
    }

    /// <summary>
    /// The RKD loss module: <c>distance_weight · rkd_distance_loss + angle_weight · rkd_angle_loss</c>
    /// (defaults 25 and 50, the paper's). A zero weight skips that term.
    /// </summary>
    public static Modules.RkdLoss RkdLoss(double distance_weight = 25, double angle_weight = 50, nn.Reduction reduction = nn.Reduction.Mean)
        => new(distance_weight, angle_weight, reduction);
}
