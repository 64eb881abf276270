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
    
        /// <summary>
        /// NST, neuron selectivity transfer with the polynomial kernel (Huang &amp; Wang, 2017), as RepDistiller's
        /// <c>NSTLoss</c> computes it with <c>full_loss = True</c>: the map with the larger H adaptive-average-pooled to
        /// the other's size, each channel L2-normalised over its pixels (F.normalize, eps 1e-12), and
        /// L = mean K(T̂, T̂) + mean K(Ŝ, Ŝ) − 2·mean K(Ŝ, T̂) with K(a, b)_ij = (a_i·b_j)² per image (means over B·C·C′);
        /// the teacher–teacher term is in the value but passes no gradient (the published <c>.detach()</c>).
        /// </summary>
        /// <param name="student_feat">Student maps [B, Cs, Hs, Ws], float32 or float64.</param>
        /// <param name="teacher_feat">Teacher maps [B, Ct, Ht, Wt]: same B, dtype and device; Ct may differ from Cs. The
        /// map with the larger H is pooled to the other's (H, W) (the published code pools to (H, H): the same whenever it
        /// runs, i.e. when the smaller map is square); equal heights need equal widths.</param>
        /// <param name="reduction">Mean (default, the published means) or Sum (each mean replaced by the sum over its
        /// B·C·C′ terms); None is refused.</param>
        /// <returns>The loss, a 0-d tensor; a gradient for each input that requires one (the student's through all three
        /// terms' non-detached parts, the teacher's through the cross term only).</returns>
        /// <remarks>
        /// Per image the unit channels of both sides are stacked, Ẑ = [Ŝ; T̂] [(Cs+Ct), N], and one Gram ẐẐᵀ holds every dot
        /// product of the three kernels: L = Σ w·G² over its blocks. Cost: (Cs+Ct)²·N multiply-adds per image (one batched
        /// GEMM) and O((Cs+Ct)²) epilogues; backward one batched product of the same size and a row pass. Peak extra
        /// memory: the stacked unit maps [B, Cs+Ct, N] and the Gram [B, Cs+Ct, Cs+Ct] kept for the backward, one [B, n, n]
        /// weight buffer and the gradient in the backward — O(B·C²), where the published code forms three
        /// [B, C, C′, H·W] products (and their gradients). Precision: the three terms nearly cancel when the student's
        /// relations match the teacher's; like the published float32 code, the float32 loss then carries the Grams'
        /// rounding relative to the terms, not to the loss. A zero channel has unit row 0 (as published) and passes no
        /// gradient through its normalisation (its published gradient is 0 too: every term it touches is 0).
        /// Throws <see cref="ArgumentException"/> naming the argument for a bad rank (maps must be 4-D), dtype, device,
        /// batch size, unequal widths at equal heights, or reduction None.
        /// </remarks>
        public static Tensor nst_loss(Tensor student_feat, Tensor teacher_feat, nn.Reduction reduction = nn.Reduction.Mean)
            => Precision.Lift([nameof(student_feat), nameof(teacher_feat)], [student_feat, teacher_feat], xs => NstLoss.Apply(xs[0], xs[1], reduction));

        /// <summary>
        /// PKT, probabilistic knowledge transfer (Passalis &amp; Tefas, ECCV 2018), as RepDistiller's
        /// <c>PKT.cosine_similarity_loss</c> computes it: each sample divided by (‖x‖ + eps), cosine similarities
        /// S = UUᵀ scaled to [0, 1] as (S + 1)/2, each row divided by its sum (conditional probabilities p for the student,
        /// q for the teacher), loss = mean over the b² entries of q·log((q + eps)/(p + eps)).
        /// </summary>
        /// <param name="student">Student features [b, …] (flattened to [b, Ds]), float32 or float64.</param>
        /// <param name="teacher">Teacher features [b, …]: same b, dtype and device; Dt may differ.</param>
        /// <param name="eps">The published eps (1e-7): added to each norm and inside the log ratio. Positive.</param>
        /// <param name="reduction">Mean (default, the published mean over b²) or Sum; None is refused.</param>
        /// <returns>The loss, a 0-d tensor; a gradient for each input that requires one (the teacher's through q).</returns>
        /// <remarks>
        /// Cost: per side a row-norm pass and one Gram (b²D, GEMM), one O(b²) row epilogue (two lane reductions per row);
        /// backward per side that needs a gradient one O(b²) epilogue, one product (2b²D) and a row pass. Peak extra
        /// memory: per side the unit rows (b×D) and S (b×b) kept for the backward, one b×b and one b×D buffer in it; the
        /// probability matrices, their logs and ratios are never stored. A zero sample has u = 0 (as published) and the
        /// gradient ū/eps (the limit of x/(‖x‖ + eps); the published sqrt(Σx²) backward gives NaN there). Departure: the
        /// published code replaces NaN entries of u by 0 (<c>output_net[output_net != output_net] = 0</c>), so a NaN or Inf
        /// input gives it a finite loss; here they propagate (the result is non-finite). Huge inputs: the norms are
        /// overflow-safe, u is formed before any product.
        /// Throws <see cref="ArgumentException"/> naming the argument for bad tensors, eps ≤ 0 or reduction None.
        /// </remarks>
        public static Tensor pkt_loss(Tensor student, Tensor teacher, double eps = 1e-7, nn.Reduction reduction = nn.Reduction.Mean)
            => Precision.Lift([nameof(student), nameof(teacher)], [student, teacher], xs => PktLoss.Apply(xs[0], xs[1], eps, reduction));

        /// <summary>
        /// DIST, knowledge distillation from a stronger teacher (Huang et al., NeurIPS 2022), as torchdistill's
        /// <c>DISTLoss</c> computes it: y = softmax(logits / temperature, dim=1) per side; inter = 1 − mean over the b rows
        /// of the Pearson correlation of y_s[i, :] and y_t[i, :]; intra = 1 − mean over the K columns of the correlation of
        /// y_s[:, k] and y_t[:, k]; loss = beta·τ²·inter + gamma·τ²·intra. Each correlation is torch's
        /// <c>cosine_similarity(a − a.mean(), b − b.mean(), eps=1e-8)</c> = Σ a_c b_c / (max(‖a_c‖, 1e-8)·max(‖b_c‖, 1e-8))
        /// (libtorch 2.x clamps each norm).
        /// </summary>
        /// <param name="student_logits">Student logits [b, K], float32 or float64.</param>
        /// <param name="teacher_logits">Teacher logits [b, K]: same shape, dtype and device.</param>
        /// <param name="beta">Weight of the inter-class (row) relation; finite.</param>
        /// <param name="gamma">Weight of the intra-class (column) relation; finite.</param>
        /// <param name="temperature">τ: logits divided by it, the loss multiplied by τ². Positive.</param>
        /// <param name="reduction">Mean (default: the published means over the b rows and the K columns) or Sum (the sums
        /// of (1 − ρ_i) and (1 − σ_k), the weights and τ² kept); None is refused (two parts of different shapes).</param>
        /// <returns>The loss, a 0-d tensor; a gradient for each input that requires one (the published code detaches
        /// nothing; a training loop usually passes a detached teacher).</returns>
        /// <remarks>
        /// Cost: O(bK) — one row pass (both softmaxes, row means, centred dot and norms), one column pass (column means,
        /// centred dot and norms, over the batch in a fixed order), a scalar; backward one elementwise pass per side that
        /// needs a gradient, through the softmax Jacobian. Peak extra memory: the two softmaxes (2·b·K, saved for the
        /// backward), 5·(b + K) statistics, and b·K per gradient; the published composition keeps ~10 b×K temporaries.
        /// A zero-variance vector (a constant logit row, every column when b = 1) has a correlation of 0 (the published
        /// value, ±1e-8 relative) and passes no gradient through it (the published gradient there is ~1/eps-scaled and,
        /// inside the eps ball, not the derivative of the clamped formula). NaN or +Inf logits give a NaN loss.
        /// Throws <see cref="ArgumentException"/> naming the argument for bad tensors (not [b, K], shapes differ),
        /// non-finite beta or gamma, temperature ≤ 0 or reduction None.
        /// </remarks>
        public static Tensor dist_loss(Tensor student_logits, Tensor teacher_logits, double beta = 1, double gamma = 1, double temperature = 1,
            nn.Reduction reduction = nn.Reduction.Mean)
            => Precision.Lift([nameof(student_logits), nameof(teacher_logits)], [student_logits, teacher_logits],
                              xs => DistLoss.Apply(xs[0], xs[1], beta, gamma, temperature, reduction));

        /// <summary>
        /// FSP, the flow of solution procedure (Yim et al., CVPR 2017), as RepDistiller's <c>FSP</c> computes it: for each
        /// pair of consecutive layers (bot = layers[i], top = layers[i + 1]) of each network, the map with the larger H is
        /// adaptive-average-pooled to the other's size, and the FSP matrix is F = top·botᵀ/N per image ([B, C_top, C_bot],
        /// the mean over the N positions: the published <c>(bot.unsqueeze(1) * top.unsqueeze(2)).view(B, Ct, Cb, −1).mean(−1)</c>);
        /// loss_i = mean((F_s − F_t)²) over its B·Ct·Cb entries and L = Σ_i w_i·loss_i (the published module returns the
        /// list of loss_i; its weights are the caller's).
        /// </summary>
        /// <param name="student_layers">The student's maps [B, C_i, H_i, W_i], at least two, float32 or float64 (all one dtype
        /// and device, one B).</param>
        /// <param name="teacher_layers">The teacher's maps: as many, with the student's channel counts layer by layer (the
        /// published constructor requires it); the spatial sizes may differ from the student's.</param>
        /// <param name="weights">One finite weight per consecutive pair (count − 1), or null for 1 each.</param>
        /// <param name="reduction">Mean (default: each pair's published mean over B·Ct·Cb) or Sum (Σ_i w_i·Σ (F_s − F_t)²,
        /// F still the mean over positions); None is refused.</param>
        /// <returns>The loss, a 0-d tensor; a gradient for every layer that requires one (a middle layer from both pairs it
        /// belongs to; the teacher's too, as nothing is detached in the published code).</returns>
        /// <remarks>
        /// Pooling: the larger-H map of a pair is pooled to the other's (H, W) — the published code pools to (H, H), the
        /// same wherever it runs (the smaller map square); equal heights need equal widths. Cost per pair and side: one
        /// batched product top·botᵀ (B·Ct·Cb·N multiply-adds, GEMM) and an O(B·Ct·Cb) epilogue; backward per side that
        /// needs a gradient two products of the same size. Peak extra memory per pair: the pooled maps (libtorch's pool),
        /// D = F_s − F_t [B, Ct, Cb] kept for the backward, the two products [B, Ct, Cb] in the forward and one in the
        /// backward — never the published [B, Ct, Cb, N] product (or its gradient). float32: F is summed in double (F_s and
        /// F_t nearly cancel near the teacher) — on the CPU path from maps widened a few images at a time (≤ 4 MiB per
        /// side), on a device by one thread per entry of D; D is rounded once and the backward runs in float32. Not scale-free (degree 4): at the
        /// limits of the dtype the value overflows as the published composition does; NaN/Inf propagate.
        /// Throws <see cref="ArgumentException"/> naming the list (the index in the message) for a null or non-4-D map, a bad
        /// dtype or device, unequal batch sizes, unequal channel counts student/teacher, unequal widths at equal heights,
        /// fewer than two layers or unequal layer counts; naming <c>weights</c> for a wrong count or a non-finite weight;
        /// naming <c>reduction</c> for None.
        /// </remarks>
        public static Tensor fsp_loss(IReadOnlyList<Tensor> student_layers, IReadOnlyList<Tensor> teacher_layers, IReadOnlyList<double>? weights = null,
            nn.Reduction reduction = nn.Reduction.Mean)
            => FspLoss.Apply(student_layers, teacher_layers, weights, reduction);
}
}
