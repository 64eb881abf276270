using GpuKd.Ops;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd;

#pragma warning disable CS8981
public static partial class gpukd
#pragma warning restore CS8981
{
    /// <summary>
    /// The fused relation ops, TorchSharp style (snake_case, shapes in the docs). Each is
    /// an autograd function with a fused backward; float32 and float64; a gradient is
    /// returned for every input that requires one. b = batch, D = flattened feature size.
    /// </summary>
#pragma warning disable IDE1006, CS8981
    public static partial class functional
#pragma warning restore IDE1006, CS8981
    {
        /// <summary>
        /// Batch Gram matrix G = X Xᵀ of <paramref name="x"/> [b, …] flattened to X [b, D].
        /// With <paramref name="normalize_rows"/>, each row of G is divided by
        /// max(‖row‖₂, 1e-12) (the similarity-preserving KD normalisation).
        /// </summary>
        /// <param name="x">Features [b, …], float32 or float64, b ≥ 1, D ≥ 1.</param>
        /// <param name="normalize_rows">Row-normalise G as SP-KD does.</param>
        /// <returns>[b, b], same dtype and device as <paramref name="x"/>.</returns>
        /// <remarks>
        /// Cost: b²D multiply-adds forward, 2b²D backward (one GEMM each way) plus O(b²).
        /// Peak extra memory: the b×b output; backward one b×b gradient buffer.
        /// A row whose norm is ≤ 1e-12 (e.g. a zero sample) passes no gradient through its
        /// normalisation (the reference's gradient there is ~1e12 × upstream).
        /// </remarks>
        public static Tensor gram_matrix(Tensor x, bool normalize_rows = false)
            => Precision.Lift(x, x => GramMatrix.Apply(x, normalize_rows));

        /// <summary>
        /// Cosine-similarity matrix A_ij = x̂_i·x̂_j with x̂_i = x_i / max(‖x_i‖₂, eps).
        /// [b, D] → [b, b]; or batched [B, N, C] → [B, N, N] (N nodes per item).
        /// </summary>
        /// <param name="x">[b, D] or [B, N, C], float32 or float64.</param>
        /// <param name="eps">Norm clamp, as in <c>F.normalize</c> (default 1e-12); must be &gt; 0.</param>
        /// <remarks>
        /// Cost: one row-norm pass (bD) and one Gram (b²D) forward; one product (2b²D)
        /// and one row pass backward. Peak extra memory: the normalised features (b×D,
        /// kept for the backward) and the output; backward one b×D buffer.
        /// Norms are computed with scaling, so huge rows (1e20 in float32) do not overflow.
        /// A row whose norm is ≤ eps passes no gradient (the reference's is ~1/eps × upstream).
        /// </remarks>
        public static Tensor cosine_similarity_matrix(Tensor x, double eps = 1e-12)
            => Precision.Lift(x, x => CosineSimilarityMatrix.Apply(x, eps));

        /// <summary>
        /// Pairwise Euclidean distances with RKD <c>pdist</c> semantics: X [b, …] flattened to
        /// [b, D], q_ij = ‖x_i‖² + ‖x_j‖² − 2x_i·x_j clamped below at 1e-12, square root unless
        /// <paramref name="squared"/>, diagonal exactly 0 (no gradient through it).
        /// </summary>
        /// <param name="x">[b, …], float32 or float64.</param>
        /// <param name="squared">Return q instead of √q.</param>
        /// <returns>[b, b].</returns>
        /// <remarks>
        /// Computed on centred features (the batch mean row subtracted; distances are
        /// translation invariant), so features with a large common offset keep their
        /// precision. Entries at the clamp pass no gradient.
        /// Cost: b²D forward (one GEMM), 2b²D backward. Peak extra memory: the centred
        /// features (b×D, kept for the backward) and one b×b buffer.
        /// </remarks>
        public static Tensor pairwise_distances(Tensor x, bool squared = false)
            => Precision.Lift(x, x => PairwiseDistances.Apply(x, squared));

        /// <summary>
        /// RKD triplet angles: for apex a and legs b, c, A[a,b,c] = u_ab·u_ac with
        /// u_ab = (x_b − x_a)/max(‖x_b − x_a‖, 1e-12); exactly 0 where b = a or c = a.
        /// X [b, …] flattened to [b, D] → [b, b, b].
        /// </summary>
        /// <param name="x">[b, …], float32 or float64.</param>
        /// <returns>[b, b, b] — the full tensor, for users who want it; the RKD angle loss
        /// never materialises it.</returns>
        /// <remarks>
        /// Computed from the Gram matrix of the centred features: A[a,b,c] =
        /// (G_bc − G_ab − G_ac + G_aa)/(d_ab d_ac). Cost: b²D + O(b³) forward, O(b³) + 2b²D
        /// backward; the reference's b×b×D difference tensor is never built. Peak extra
        /// memory: the output (b³), the centred features (b×D) and O(b²) scratch.
        /// A degenerate leg (x_b = x_a, b ≠ a) passes no gradient (the reference's is ~1e12).
        /// </remarks>
        public static Tensor triplet_angles(Tensor x)
            => Precision.Lift(x, x => TripletAngles.Apply(x));
    }
}
