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
        /// ICKD, inter-channel correlation KD (Liu et al., ICCV 2021), as torchdistill's <c>ChSimLoss.batch_loss</c>
        /// computes it: per image the channel Gram G = F Fᵀ of the map flattened to F [C, H·W], each row divided by
        /// max(‖row‖₂, 1e-12) (<c>F.normalize(dim=2)</c>), loss = Σ (Ĝ_S − Ĝ_T)² / (C·B²).
        /// </summary>
        /// <param name="student_feat">Student maps [B, C, …] (e.g. [B, C, H, W]; flattened per channel), float32 or float64.</param>
        /// <param name="teacher_feat">Teacher maps [B, C, …]: the same B and C (project the student's channels first, as
        /// torchdistill's <c>Student4ICKD</c> does), dtype and device; its spatial size may differ.</param>
        /// <param name="reduction">Mean (default: the published Σ/(C·B²) — note B², not B·C²) or Sum (Σ over the same
        /// B·C² terms); None is refused (the per-entry terms are never materialised).</param>
        /// <returns>The loss, a 0-d tensor of the inputs' dtype; a gradient for each input that requires one.</returns>
        /// <remarks>
        /// Cost: one batched Gram per side (B·C²·N multiply-adds, GEMM) and O(B·C²) row epilogues; backward per side that
        /// needs a gradient one O(B·C²) epilogue and one batched product (2·B·C²·N) — the composition's bmm backward
        /// does two. Peak extra memory: per side the raw Grams [B, C, C] and B·C norms kept for the backward (the maps
        /// themselves are saved without a copy when contiguous); backward one [B, C, C] buffer and its symmetrised copy
        /// (CPU) and the gradient. The normalised Grams, their difference and its square are never stored.
        /// A zero channel gives a zero Gram row, which stays zero (as in the reference) and passes no gradient through
        /// its normalisation (the reference's is ~1e12-scaled there). Inputs of any scale: each side is scale-free and
        /// huge maps are brought into range by a power of two (exact).
        /// Throws <see cref="ArgumentException"/> naming the argument for a bad rank, dtype or device, an empty tensor,
        /// a teacher whose batch size or channel count differ, or reduction None.
        /// </remarks>
        public static Tensor ickd_loss(Tensor student_feat, Tensor teacher_feat, nn.Reduction reduction = nn.Reduction.Mean)
            => Precision.Lift([nameof(student_feat), nameof(teacher_feat)], [student_feat, teacher_feat], xs => IckdLoss.Apply(xs[0], xs[1], reduction));
    }
}
