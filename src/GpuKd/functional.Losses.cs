using GpuKd.Ops;
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
        /// Similarity-preserving KD loss (Tung &amp; Mori; REFERENCE.md): Q = features flattened per
        /// sample, G = QQᵀ with each row divided by max(‖row‖₂, 1e-12), loss = Σ (G_T − G_S)² / b².
        /// </summary>
        /// <param name="student">Student features [b, …] (e.g. [b, C, H, W] or [b, D]), float32 or float64.</param>
        /// <param name="teacher">Teacher features [b, …]: same b, dtype and device; its flattened size may differ.</param>
        /// <returns>The loss, a 0-d tensor of the inputs' dtype.</returns>
        /// <remarks>
        /// A gradient is returned for each input that requires one (usually only the student).
        /// Cost: b²(Ds + Dt) multiply-adds forward (one Gram per side) plus O(b²); backward 2b²D per
        /// side that needs a gradient (one product) plus O(b²).
        /// Peak extra memory: two b×b Grams and 2b norms kept for the backward; the backward adds
        /// one b×b buffer and the b×D gradient. The normalised Gram matrices are never stored.
        /// A zero sample gives a zero Gram row, which stays zero (as in the reference) and passes
        /// no gradient through its normalisation (the reference's gradient there is ~1e10–1e12).
        /// Throws <see cref="ArgumentException"/> naming the argument for a bad rank, dtype, an
        /// empty tensor, or a teacher whose batch size, dtype or device differ from the student's.
        /// </remarks>
        public static Tensor sp_loss(Tensor student, Tensor teacher) => SpLoss.Apply(student, teacher);

        /// <summary>
        /// SP loss over several layer pairs: Σ_l w_l · sp_loss(students[l], teachers[l]).
        /// </summary>
        /// <param name="students">Student feature maps, one per pair, each [b, …].</param>
        /// <param name="teachers">Teacher feature maps, as many as <paramref name="students"/>.</param>
        /// <param name="weights">Per-pair weights (default 1 each), as many as the pairs.</param>
        /// <returns>The weighted sum, a 0-d tensor.</returns>
        /// <remarks>Cost and memory: those of <see cref="sp_loss(Tensor, Tensor)"/> per pair; pairs run one after another.</remarks>
        public static Tensor sp_loss(IReadOnlyList<Tensor> students, IReadOnlyList<Tensor> teachers, IReadOnlyList<double>? weights = null)
        {
            LossLists.CheckPairs(students, teachers, weights);
            Tensor? total = null;
            for (int l = 0; l < students.Count; l++)
            {
                var term = sp_loss(students[l], teachers[l]);
                double w = weights?[l] ?? 1.0;
                if (w != 1.0) term = term * w;
                total = total is null ? term : total + term;
            }
            return total!;
        }

        /// <summary>
        /// Correlation-congruence KD loss (Peng et al.; REFERENCE.md): x̂ = rows L2-normalised (clamp 1e-12),
        /// A = x̂x̂ᵀ, K = f(A) elementwise, loss = mean over the b² entries of (K_S − K_T)².
        /// </summary>
        /// <param name="student">Student embeddings [b, …] (flattened to [b, Ds]), float32 or float64.</param>
        /// <param name="teacher">Teacher embeddings [b, …]: same b, dtype and device; Dt may differ from Ds.</param>
        /// <param name="kernel">f: <see cref="CcKernel.TaylorRbf"/> (default), <see cref="CcKernel.Rbf"/>,
        /// <see cref="CcKernel.Bilinear"/>, or <see cref="CcKernel.BilinearRaw"/> (K = xxᵀ, no normalisation).</param>
        /// <param name="gamma">RBF γ ≥ 0 (default 0.4).</param>
        /// <param name="order">Taylor order P ≥ 0 (default 2; used by <see cref="CcKernel.TaylorRbf"/> only).</param>
        /// <returns>The loss, a 0-d tensor of the inputs' dtype.</returns>
        /// <remarks>
        /// Both inputs get a gradient when they require one (setups train an embedding on each side).
        /// Cost: bD row-norm and scaling passes and one Gram (b²D) per side forward, O(b²·P) epilogue;
        /// backward per side that needs a gradient: one O(b²·P) epilogue, one product (2b²D), one row pass.
        /// Peak extra memory: per side the normalised features (b×D) and A (b×b) kept for the backward
        /// (the normalised features only for a side that needs a gradient); backward one b×b and one b×D
        /// buffer. K is never stored.
        /// A zero sample has x̂ = 0 (as in the reference) and passes no gradient through its
        /// normalisation (the reference's gradient there is ~1e12-scaled).
        /// Throws <see cref="ArgumentException"/> naming the argument for bad tensors (see
        /// <see cref="sp_loss(Tensor, Tensor)"/>), an undefined kernel, γ &lt; 0 or an order outside [0, 64].
        /// </remarks>
        public static Tensor cc_loss(Tensor student, Tensor teacher, CcKernel kernel = CcKernel.TaylorRbf, double gamma = 0.4, int order = 2)
            => CcLoss.Apply(student, teacher, kernel, gamma, order);
    }
}

/// <summary>Checks of the list arguments of the multi-layer losses.</summary>
internal static class LossLists
{
    public static void CheckPairs(IReadOnlyList<Tensor>? students, IReadOnlyList<Tensor>? teachers, IReadOnlyList<double>? weights,
        string studentsName = "students", string teachersName = "teachers", string weightsName = "weights")
    {
        if (students is null) throw new ArgumentNullException(studentsName);
        if (teachers is null) throw new ArgumentNullException(teachersName);
        if (students.Count == 0) throw new ArgumentException($"{studentsName} must hold at least one tensor.", studentsName);
        if (teachers.Count != students.Count)
            throw new ArgumentException($"{teachersName} must hold one tensor per student layer ({students.Count}), got {teachers.Count}.", teachersName);
        CheckWeights(weights, students.Count, weightsName);
    }

    public static void CheckWeights(IReadOnlyList<double>? weights, int count, string name)
    {
        if (weights is null) return;
        if (weights.Count != count) throw new ArgumentException($"{name} must hold one weight per pair ({count}), got {weights.Count}.", name);
        foreach (var w in weights)
            if (!double.IsFinite(w)) throw new ArgumentException($"{name} must be finite, got {w}.", name);
    }
}
