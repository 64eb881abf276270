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
        /// Similarity-preserving KD loss (Tung &amp; Mori; REFERENCE.md): Q = features flattened per
        /// sample, G = QQᵀ with each row divided by max(‖row‖₂, 1e-12), loss = Σ (G_T − G_S)² / b².
        /// </summary>
        /// <param name="student">Student features [b, …] (e.g. [b, C, H, W] or [b, D]), float32 or float64.</param>
        /// <param name="teacher">Teacher features [b, …]: same b, dtype and device; its flattened size may differ.</param>
        /// <param name="reduction">Mean (default, the authors': the sum over the b² entries (G_T − G_S)²_ij divided by b²)
        /// or Sum (that sum). None is refused (<see cref="ArgumentException"/> naming <c>reduction</c>): the b² entries
        /// are reduced in the fused epilogue, never stored.</param>
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
        public static Tensor sp_loss(Tensor student, Tensor teacher, nn.Reduction reduction = nn.Reduction.Mean)
        {
            Reductions.MeanOrSum(reduction, nameof(sp_loss), "the b² squared differences of the normalised Gram entries");
            return Precision.Lift(["student", "teacher"], [student, teacher],
                xs => Reductions.FromMean(SpLoss.Apply(xs[0], xs[1]), reduction, (double)xs[0].shape[0] * xs[0].shape[0]));
        }

        /// <summary>
        /// SP loss over several layer pairs: Σ_l w_l · sp_loss(students[l], teachers[l], reduction).
        /// </summary>
        /// <param name="students">Student feature maps, one per pair, each [b, …].</param>
        /// <param name="teachers">Teacher feature maps, as many as <paramref name="students"/>.</param>
        /// <param name="weights">Per-pair weights (default 1 each), as many as the pairs.</param>
        /// <param name="reduction">Applied to each pair's b² entries (Mean: /b², the authors'; Sum: b² × that); the
        /// per-pair weights are kept as they are under both. None is refused (as in <see cref="sp_loss(Tensor, Tensor, nn.Reduction)"/>).</param>
        /// <returns>The weighted sum, a 0-d tensor.</returns>
        /// <remarks>Cost and memory: those of <see cref="sp_loss(Tensor, Tensor, nn.Reduction)"/> per pair; pairs run one after another.</remarks>
        public static Tensor sp_loss(IReadOnlyList<Tensor> students, IReadOnlyList<Tensor> teachers, IReadOnlyList<double>? weights = null,
            nn.Reduction reduction = nn.Reduction.Mean)
        {
            LossLists.CheckPairs(students, teachers, weights);
            Reductions.MeanOrSum(reduction, nameof(sp_loss), "the b² squared differences of the normalised Gram entries of each pair");
            Validate.FiniteList(students, nameof(students));
            Validate.FiniteList(teachers, nameof(teachers));
            Tensor? total = null;
            for (int l = 0; l < students.Count; l++)
            {
                var term = sp_loss(students[l], teachers[l], reduction);
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
        /// <param name="reduction">Mean (default: over the b² entries (K_S − K_T)²_ij) or Sum (their sum). None is refused
        /// (<see cref="ArgumentException"/> naming <c>reduction</c>): K is never stored.</param>
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
        /// <see cref="sp_loss(Tensor, Tensor, nn.Reduction)"/>), an undefined kernel, γ &lt; 0 or an order outside [0, 64].
        /// </remarks>
        public static Tensor cc_loss(Tensor student, Tensor teacher, CcKernel kernel = CcKernel.TaylorRbf, double gamma = 0.4, int order = 2,
            nn.Reduction reduction = nn.Reduction.Mean)
        {
            Reductions.MeanOrSum(reduction, nameof(cc_loss), "the b² squared differences of the kernel entries");
            return Precision.Lift(["student", "teacher"], [student, teacher],
                xs => Reductions.FromMean(CcLoss.Apply(xs[0], xs[1], kernel, gamma, order), reduction, (double)xs[0].shape[0] * xs[0].shape[0]));
        }

        /// <summary>
        /// IRG edge loss (Liu et al.; REFERENCE.md): per network the edge matrix E = q / max(q), q the squared
        /// Euclidean distances of the flattened samples (clamped below at 1e-12, diagonal 0); loss = mean over the
        /// b² entries of (E_S − E_T)².
        /// </summary>
        /// <param name="student">Student layer [b, …], float32 or float64.</param>
        /// <param name="teacher">Teacher layer [b, …]: same b, dtype and device; its flattened width may differ.</param>
        /// <param name="differentiate_max">true (default): the max carries gradient, split evenly over the entries
        /// equal to it as PyTorch's <c>max()</c> does; false: the max is held constant (the authors' Caffe code).</param>
        /// <param name="reduction">Mean (default: over the b² entries (E_S − E_T)²_ij) or Sum (their sum). None is refused
        /// (<see cref="ArgumentException"/> naming <c>reduction</c>): q and E are never stored.</param>
        /// <returns>The loss, a 0-d tensor.</returns>
        /// <remarks>
        /// A max of 0 (b = 1) gives E = 0, loss 0 and gradient 0, never NaN. Entries at the clamp (duplicate
        /// samples) pass no gradient, as in the reference. Distances are computed on centred features, so a large
        /// common offset costs no precision. Both inputs get a gradient when they require one.
        /// Cost: one Gram per side (b²D) plus O(b²) row passes forward; per side that needs a gradient one or two
        /// O(b²) passes and one product (2b²D). Peak extra memory: the centred features (b×D per side) and the two
        /// Grams kept for the backward; backward one b×b buffer. q and E are never stored.
        /// </remarks>
        public static Tensor irg_edge_loss(Tensor student, Tensor teacher, bool differentiate_max = true, nn.Reduction reduction = nn.Reduction.Mean)
        {
            Reductions.MeanOrSum(reduction, nameof(irg_edge_loss), "the b² squared differences of the edge matrices");
            return Precision.Lift(["student", "teacher"], [student, teacher],
                xs => Reductions.FromMean(IrgEdgeLoss.Apply(xs[0], xs[1], differentiate_max), reduction, (double)xs[0].shape[0] * xs[0].shape[0]));
        }

        /// <summary>IRG vertex loss: MSE between student and teacher logits.</summary>
        /// <param name="student_logits">[b, K] (any shape), float32 or float64.</param>
        /// <param name="teacher_logits">The same shape and dtype.</param>
        /// <param name="reduction">Mean (default: over every entry (z_S − z_T)², b·K of them) or Sum (their sum), a 0-d
        /// tensor; None: the entries themselves, shaped like the logits (cheap: libtorch's elementwise MSE).</param>
        /// <returns>A 0-d tensor (the logits' shape for None). Cost O(bK); memory: libtorch's MSE.</returns>
        public static Tensor irg_vertex_loss(Tensor student_logits, Tensor teacher_logits, nn.Reduction reduction = nn.Reduction.Mean)
        {
            Reductions.Defined(reduction);
            return Precision.Lift([nameof(student_logits), nameof(teacher_logits)], [student_logits, teacher_logits],
                                  xs => IrgParts.Mse(xs[0], xs[1], nameof(student_logits), nameof(teacher_logits), reduction));
        }

        /// <summary>
        /// IRG transformation loss (IRG-t) for one layer transition l1 → l2 of each network, as KD-Zoo's published IRG
        /// (<c>kd_losses/irg.py</c>) computes it: per sample the squared distance between the l1 and l2 features,
        /// clamped below at 1e-12 and divided by its max over the batch; loss = MSE between the student's and the
        /// teacher's vectors. When l1's map is larger (height or width) it is adaptive-average-pooled to l2's spatial
        /// size (<c>F.adaptive_avg_pool2d</c>: any sizes, 5×5 → 2×2 included); when l1 has half l2's channels, adjacent
        /// channel pairs of l2 are averaged (and, beyond the published code, those of l1 when it has twice l2's).
        /// </summary>
        /// <param name="student_from">Student l1 features, [b, C, H, W] or [b, D].</param>
        /// <param name="student_to">Student l2 features, the same rank; its map no larger than l1's.</param>
        /// <param name="teacher_from">Teacher l1 features.</param>
        /// <param name="teacher_to">Teacher l2 features.</param>
        /// <param name="differentiate_max">As in <see cref="irg_edge_loss"/>.</param>
        /// <param name="reduction">Mean (default, the published: over the b per-sample squared differences of the two
        /// normalised vectors) or Sum (their sum), a 0-d tensor; None: those b terms, a [b] tensor (cheap).</param>
        /// <returns>A 0-d tensor ([b] for None). Cost O(bD) per network; memory O(bD) (libtorch compositions, no b×b tensor).</returns>
        /// <remarks>Identical layers (every distance at the clamp) give vectors of 1, as in the published code; b = 1
        /// gives 0. NaN or ±Inf in any input give a non-finite value. Throws <see cref="ArgumentException"/> naming the
        /// argument for a map larger than its l1's, channel counts that are neither equal nor a factor 2 apart, ranks
        /// that differ or are not 2 or 4, and the usual bad tensors.</remarks>
        public static Tensor irg_transformation_loss(Tensor student_from, Tensor student_to, Tensor teacher_from, Tensor teacher_to,
            bool differentiate_max = true, nn.Reduction reduction = nn.Reduction.Mean)
        {
            Reductions.Defined(reduction);
            return Precision.Lift([nameof(student_from), nameof(student_to), nameof(teacher_from), nameof(teacher_to)],
                              [student_from, student_to, teacher_from, teacher_to], xs =>
            {
                IrgParts.ValidateAligned([nameof(student_from), nameof(student_to), nameof(teacher_from), nameof(teacher_to)], xs);
                var vs = IrgParts.TransformVector(xs[0], xs[1], differentiate_max, nameof(student_from), nameof(student_to));
                var vt = IrgParts.TransformVector(xs[2], xs[3], differentiate_max, nameof(teacher_from), nameof(teacher_to));
                return IrgParts.Mse(vs, vt, nameof(student_from), nameof(teacher_from), reduction);
            });
        }

        /// <summary>
        /// The IRG loss: vertex_weight·vertex + edge_weight·edge + transformation_weight·transformation, with the edge
        /// loss averaged over the layer pairs (<paramref name="pairing"/>) and the transformation loss averaged over the
        /// layer transitions (<paramref name="transitions"/>; by default every consecutive l → l + 1).
        /// </summary>
        /// <param name="student_layers">Student feature maps [b, …], shallow to deep (at least one).</param>
        /// <param name="teacher_layers">Teacher feature maps: as many as the student's for one-to-one pairing; for
        /// one-to-many the last one guides every student layer.</param>
        /// <param name="student_logits">Student logits [b, K], or null (then no vertex term; both or neither).</param>
        /// <param name="teacher_logits">Teacher logits [b, K], or null.</param>
        /// <param name="pairing">One-to-one (default) or one-to-many.</param>
        /// <param name="vertex_weight">Default 0.1.</param>
        /// <param name="edge_weight">Default 5.</param>
        /// <param name="transformation_weight">Default 5. The term needs a transition and lists of equal length (it is 0
        /// without a transition).</param>
        /// <param name="differentiate_max">As in <see cref="irg_edge_loss"/> (edge and transformation terms).</param>
        /// <param name="transitions">The (from, to) layer indices of the transformation terms, the same in both lists;
        /// null (default): (0, 1), (1, 2), … ; empty: no transformation term. KD-Zoo's published
        /// <c>IRG(0.1, 5, 5)([fm1, fm2, feat, out]_s, …_t)</c> is <c>irg_loss([fm1, fm2, feat]_s, [fm1, fm2, feat]_t,
        /// out_s, out_t, transitions: [(0, 1)])</c>: it computes the transformation fm1 → fm2 only.</param>
        /// <param name="reduction">Applied to each part's terms: Mean (default, the published) or Sum — the vertex part over
        /// its b·K entries, each edge loss over its b² entries, each transformation loss over its b samples; the weights
        /// and the averaging over layer pairs and transitions are kept as they are under both. None is refused (the
        /// parts' terms have different shapes).</param>
        /// <returns>A 0-d tensor.</returns>
        /// <remarks>Cost and memory: the sum of the parts; each edge pair is one fused op (the teacher's Gram is
        /// recomputed per pair in one-to-many mode).</remarks>
        public static Tensor irg_loss(IReadOnlyList<Tensor> student_layers, IReadOnlyList<Tensor> teacher_layers,
            Tensor? student_logits = null, Tensor? teacher_logits = null, IrgPairing pairing = IrgPairing.OneToOne,
            double vertex_weight = 0.1, double edge_weight = 5, double transformation_weight = 5, bool differentiate_max = true,
            IReadOnlyList<(int from, int to)>? transitions = null, nn.Reduction reduction = nn.Reduction.Mean)
        {
            Reductions.MeanOrSumOfParts(reduction, nameof(irg_loss), "vertex: b·K entries, edge: b² per layer pair, transformation: b per transition");
            if (student_layers is null) throw new ArgumentNullException(nameof(student_layers));
            if (teacher_layers is null) throw new ArgumentNullException(nameof(teacher_layers));
            if (student_layers.Count == 0) throw new ArgumentException("student_layers must hold at least one tensor.", nameof(student_layers));
            if (teacher_layers.Count == 0) throw new ArgumentException("teacher_layers must hold at least one tensor.", nameof(teacher_layers));
            Validate.FiniteList(student_layers, nameof(student_layers));
            Validate.FiniteList(teacher_layers, nameof(teacher_layers));
            if (!Enum.IsDefined(pairing)) throw new ArgumentException($"pairing must be OneToOne or OneToMany, got {(int)pairing}.", nameof(pairing));
            if (pairing == IrgPairing.OneToOne && teacher_layers.Count != student_layers.Count)
                throw new ArgumentException($"teacher_layers must hold one tensor per student layer ({student_layers.Count}) for one-to-one pairing, got {teacher_layers.Count}.", nameof(teacher_layers));
            if ((student_logits is null) != (teacher_logits is null))
                throw new ArgumentException("student_logits and teacher_logits must be given together.", student_logits is null ? nameof(student_logits) : nameof(teacher_logits));
            foreach (var (w, name) in new[] { (vertex_weight, nameof(vertex_weight)), (edge_weight, nameof(edge_weight)), (transformation_weight, nameof(transformation_weight)) })
                if (!double.IsFinite(w)) throw new ArgumentException($"{name} must be finite, got {w}.", name);
            // Default: every consecutive pair, when the teacher has more than one layer (one-to-many with a single
            // teacher layer has no transformation term, as before transitions existed).
            var pairs = transitions is null && teacher_layers.Count < 2 ? [] : IrgTransitions.Resolve(transitions, student_layers.Count, nameof(transitions));
            bool transform = transformation_weight != 0 && pairs.Length > 0;
            if (transform && teacher_layers.Count != student_layers.Count)
                throw new ArgumentException($"the transformation loss needs as many teacher layers as student layers ({student_layers.Count}), got {teacher_layers.Count}; set transformation_weight to 0 (or transitions to []) to leave it out.", nameof(teacher_layers));

            Tensor? total = null;
            void Add(Tensor term, double w)
            {
                if (w == 0) return;
                var weighted = term * w;
                total = total is null ? weighted : total + weighted;
            }

            if (student_logits is not null) Add(irg_vertex_loss(student_logits, teacher_logits!, reduction), vertex_weight);
            if (edge_weight != 0)
            {
                Tensor? edges = null;
                for (int l = 0; l < student_layers.Count; l++)
                {
                    var teacher = pairing == IrgPairing.OneToOne ? teacher_layers[l] : teacher_layers[^1];
                    var e = irg_edge_loss(student_layers[l], teacher, differentiate_max, reduction);
                    edges = edges is null ? e : edges + e;
                }
                Add(edges! / student_layers.Count, edge_weight);
            }
            if (transform)
            {
                Tensor? trans = null;
                foreach (var (from, to) in pairs)
                {
                    var e = irg_transformation_loss(student_layers[from], student_layers[to], teacher_layers[from], teacher_layers[to], differentiate_max, reduction);
                    trans = trans is null ? e : trans + e;
                }
                Add(trans! / pairs.Length, transformation_weight);
            }
            return total ?? zeros([], dtype: student_layers[0].dtype, device: student_layers[0].device);
        }
    }
}

/// <summary>The layer transitions of the IRG transformation term.</summary>
internal static class IrgTransitions
{
    /// <summary>The given transitions checked against <paramref name="layers"/> (copied), or the consecutive ones when null.</summary>
    public static (int From, int To)[] Resolve(IReadOnlyList<(int from, int to)>? transitions, int layers, string name)
    {
        if (transitions is null) return Enumerable.Range(0, Math.Max(0, layers - 1)).Select(l => (l, l + 1)).ToArray();
        var pairs = transitions.Select(p => (p.from, p.to)).ToArray();
        foreach (var (from, to) in pairs)
        {
            if (from < 0 || from >= layers || to < 0 || to >= layers)
                throw new ArgumentException($"{name} must index the {layers} layers (0 to {layers - 1}), got ({from}, {to}).", name);
            if (from == to) throw new ArgumentException($"{name} must join two different layers, got ({from}, {to}).", name);
        }
        return pairs;
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
