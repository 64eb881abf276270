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
        /// Structured-KD pair-wise loss (Liu et al.; REFERENCE.md, authors' master branch): both maps pooled to nodes
        /// (max pooling, window = stride = (⌊H·scale⌋, ⌊W·scale⌋), ceil mode), each node's channel vector divided by
        /// (‖f‖ + 1e-8) with the norm held constant in the backward, A = f̂ᵀf̂ per image (N×N), loss = mean over B·N² of
        /// (A_T − A_S)².
        /// </summary>
        /// <param name="student_feat">Student features [B, Cs, H, W], float32 or float64.</param>
        /// <param name="teacher_feat">Teacher features [B, Ct, H, W]: same B, H, W, dtype and device; Ct may differ from Cs.</param>
        /// <param name="scale">Pooling window as a fraction of the map, 0 &lt; scale ≤ 1 (default 0.5: a 65×65 map gives 3×3
        /// nodes). Windows are at least 1 pixel (the authors' code raises where ⌊size·scale⌋ = 0, e.g. 1×1 maps).
        /// Ignored with <see cref="SkdPool.None"/>.</param>
        /// <param name="pool"><see cref="SkdPool.Max"/> (default, the authors'), <see cref="SkdPool.Average"/> (the paper's
        /// wording), or <see cref="SkdPool.None"/>: every pixel is a node (full resolution, N = H·W).</param>
        /// <param name="detach_norm">true (default, the authors'): f / (‖f‖ + 1e-8) with the norm held constant in the
        /// backward. false: f / max(‖f‖, 1e-12) with the gradient through the norm (later re-implementations); a node
        /// whose norm is ≤ 1e-12 then passes no gradient (the reference's is ~1e12-scaled there).</param>
        /// <param name="reduction">Mean (default, the authors': over the B·N² entries (A_T − A_S)², N the pooled nodes per
        /// image) or Sum (their sum). None is refused (<see cref="ArgumentException"/> naming <c>reduction</c>): it would
        /// materialise the B·N² similarities this op never forms.</param>
        /// <returns>The loss, a 0-d tensor of the inputs' dtype.</returns>
        /// <remarks>
        /// Never forms the N×N similarity matrices (N = pooled nodes): per image Σ(A_S − A_T)² =
        /// ‖ŜᵀŜ‖² − 2‖ŜᵀT̂‖² + ‖T̂ᵀT̂‖² from the channel Grams. The three terms nearly cancel when the relations agree,
        /// so the precision is chosen per image: float32 inputs first take float32 Grams (GEMMs over ≤ 512-pixel chunks,
        /// chunk sums in float64) and keep them when the loss is ≥ 1 % of its largest term (then within ~1e-5 of the
        /// float64 answer, gradient ~3e-6); otherwise, and for float64 inputs, the Grams are float64, streamed over
        /// pixel chunks of ≤ 8 MB. When N·(Cs+Ct) &lt; Cs² + CsCt + Ct² (e.g. the default 3×3 pooled nodes) the direct
        /// form D = ŜŜᵀ − T̂T̂ᵀ is cheaper and used; it is then smaller than the C×C Grams. An image whose float64
        /// Gram-form loss has cancelled (below 1e-4 of its largest term for float64 inputs, which keeps float64 within
        /// 1e-10; below 1e-9 for float32 inputs; e.g. nearly parallel nodes as with a large common offset, or relations
        /// that agree to ~1 %) is recomputed by the direct form streamed over m×m tiles of D (never whole).
        /// Cost per image: Gram path N(Cs² + CsCt + Ct²) multiply-adds forward (float32 or float64; an image that falls
        /// back from float32 pays the float32 pass too), N·Cs(Cs + Ct) backward for the student (N·Ct(Cs + Ct) more for
        /// a teacher that requires grad), plus the pooling; direct path N²(Cs + Ct) forward, N²·C backward per side.
        /// Peak extra memory: the gradient; Gram path B(Cs² + CsCt) Grams kept for the backward (float32 or float64;
        /// + B·Ct² for a teacher that requires grad), one chunk of nodes at a time (float32: ≤ 512 pixels; float64:
        /// ≤ 8 MB), the pooled maps; direct path by cost: D (N² float64 per image) kept when it fits in 8 MB; the
        /// streamed direct form: one m×m tile and the m-node blocks of both sides (≤ 8 MB together) plus a [C, m] gradient
        /// accumulator, recomputed in the backward. A leaf input's gradient is not copied (see <c>LeafGrad</c>).
        /// Measured at B = 8, Cs = 128, Ct = 512, full resolution, float32 (bench/results/peak-skd-pairwise*.md):
        /// see the README's Structured-KD section for the current numbers against <c>ReferenceSkd.PairwiseLoss</c>
        /// (3.2 GiB at 64×64, ≈ 48 GiB at 128×128).
        /// Both inputs get a gradient when they require one. The node normalisation is a fused kernel: C# on the CPU
        /// fast path; on CUDA tensors (in place, in libtorch's context and stream) and on the ILGPU backend for CPU tensors
        /// the program <c>SkdPrograms.Nodes</c> (reads the maps in their dtype, float64 inside, one launch per chunk of
        /// all images); the Grams and products are libtorch GEMMs on the inputs' device under every backend. On CPU
        /// tensors the per-image path choices read loss terms on the host; on CUDA tensors they are device flags (the
        /// direct-form fallback's kernels read them), so the op never synchronises. Extra memory on CUDA: two float64
        /// norm vectors [H·W] per image (saved) and a float64 block of ≤ 8 MB in the backward.
        /// Throws <see cref="ArgumentException"/> naming the argument for a rank other than 4, a bad dtype, an empty
        /// tensor, a teacher whose B, H, W, dtype or device differ, a scale outside (0, 1] or an undefined pool.
        /// </remarks>
        public static Tensor skd_pairwise_loss(Tensor student_feat, Tensor teacher_feat, double scale = 0.5, SkdPool pool = SkdPool.Max, bool detach_norm = true,
            nn.Reduction reduction = nn.Reduction.Mean)
        {
            Reductions.MeanOrSum(reduction, nameof(skd_pairwise_loss), "the B·N² squared differences of the node similarities");
            return Precision.Lift([nameof(student_feat), nameof(teacher_feat)], [student_feat, teacher_feat],
                xs => SkdPairwise(xs[0], xs[1], scale, pool, detach_norm, SkdPairwisePath.Auto, reduction));
        }

        /// <summary><see cref="skd_pairwise_loss"/> with the evaluation path forced (tests compare the two).</summary>
        internal static Tensor SkdPairwise(Tensor student_feat, Tensor teacher_feat, double scale, SkdPool pool, bool detach_norm, SkdPairwisePath path,
            nn.Reduction reduction = nn.Reduction.Mean)
        {
            ValidateMaps(student_feat, teacher_feat, "student_feat", "teacher_feat", sameChannels: false);
            if (!(scale > 0 && scale <= 1))
                throw new ArgumentException($"scale must be in (0, 1], got {scale}.", nameof(scale));
            if (!Enum.IsDefined(pool))
                throw new ArgumentException($"pool must be Max, Average or None, got {(int)pool}.", nameof(pool));
            using var scope = NewDisposeScope();
            var s = SkdPooling.Apply(student_feat, scale, pool);
            var t = SkdPooling.Apply(teacher_feat, scale, pool);
            double nodes = (double)s.shape[2] * s.shape[3];
            return Reductions.FromMean(SkdPairwiseLoss.Apply(s, t, detach_norm, path), reduction, s.shape[0] * nodes * nodes).MoveToOuterDisposeScope();
        }

        /// <summary>
        /// Structured-KD pixel-wise loss (Liu et al.; REFERENCE.md). <see cref="SkdPixelwise.CrossEntropy"/> (default, the
        /// authors'): −Σ_{n,h,w,k} softmax(z_T/T)_k · log_softmax(z_S/T)_k / (H·W), soft-target cross-entropy over the
        /// classes summed over the batch and divided by H·W only; with T = 1 (default) exactly the authors' code.
        /// <see cref="SkdPixelwise.TemperatureKl"/>: T² · KL(softmax(z_T/T) ‖ softmax(z_S/T)) averaged over the B·H·W pixels.
        /// </summary>
        /// <param name="student_logits">Student logits [B, K, H, W], float32 or float64.</param>
        /// <param name="teacher_logits">Teacher logits of the same shape, dtype and device.</param>
        /// <param name="temperature">T &gt; 0: both softmaxes are taken of z/T in both modes; only TemperatureKl multiplies by T².</param>
        /// <param name="mode">Which loss (see above).</param>
        /// <param name="reduction">Mean (default): the mode's published normalisation above (CrossEntropy: the B·H·W pixel
        /// terms summed and divided by H·W, the authors'; TemperatureKl: their mean over B·H·W). Sum: the sum of the B·H·W
        /// pixel terms (the soft cross-entropy of a pixel, or T²·KL), i.e. Mean × H·W (CrossEntropy) or × B·H·W
        /// (TemperatureKl). None: those pixel terms, a [B, H, W] tensor (cheap: the fused pass computes them anyway; the
        /// backward scales the stored gradients by the upstream value per pixel).</param>
        /// <returns>The loss, a 0-d tensor of the inputs' dtype ([B, H, W] for None).</returns>
        /// <remarks>
        /// One fused pass per pixel over the class axis evaluates the softmaxes, the pixel's term (in double) and the
        /// gradient of each input that requires one (∂/∂z_S = (p_S − p_T)/T × the mode's scale); the backward only
        /// scales the stored gradients. Cost: O(B·K·H·W) with 2K exponentials per pixel. On the CPU backend the pass
        /// is vectorised across adjacent pixels and parallel over 512-pixel blocks of each image (at most libtorch's
        /// thread count); float32 logits in cross-entropy mode take float32 exponentials (term ≈ 1e-7 off, the student
        /// gradient ≈ 2e-7·p/|p_S − p_T| off), everything else is double.
        /// Peak extra memory: one logits-sized gradient per input that requires grad (no log-softmax or probability
        /// tensors), a double per 512-pixel block (programs: per pixel) and a [K, 16]-element scratch per thread.
        /// Deterministic on any thread count (fixed blocks, partials summed in a fixed order).
        /// On CUDA tensors (in place, in libtorch's context and stream, no host copy or synchronisation) and on the ILGPU
        /// backend for CPU tensors it runs the program <c>SkdPrograms.Pixelwise</c>: one thread per pixel reading the
        /// logits in their own dtype, float64 inside (no float64 copy of float32 logits); the B·H·W float64 terms are a
        /// temporary summed on the device in a fixed order. Peak extra memory there: the gradients asked for (input
        /// dtype) + (B·H·W + H·W + 1)·8 bytes.
        /// Throws <see cref="ArgumentException"/> naming the argument for a rank other than 4, a bad dtype, an empty
        /// tensor, a shape/dtype/device mismatch, a non-positive temperature or an undefined mode.
        /// </remarks>
        public static Tensor skd_pixelwise_loss(Tensor student_logits, Tensor teacher_logits, double temperature = 1.0, SkdPixelwise mode = SkdPixelwise.CrossEntropy,
            nn.Reduction reduction = nn.Reduction.Mean)
        {
            Reductions.Defined(reduction);
            return Precision.Lift([nameof(student_logits), nameof(teacher_logits)], [student_logits, teacher_logits], xs =>
            {
                ValidateMaps(xs[0], xs[1], "student_logits", "teacher_logits", sameChannels: true);
                Validate.Positive(temperature, nameof(temperature));
                if (!Enum.IsDefined(mode))
                    throw new ArgumentException($"mode must be CrossEntropy or TemperatureKl, got {(int)mode}.", nameof(mode));
                return SkdPixelwiseLoss.Apply(xs[0], xs[1], temperature, mode, reduction);
            });
        }

        /// <summary>
        /// Holistic structured-KD generator term (WGAN): −λ_d · mean over the batch of D(z_S) (REFERENCE.md).
        /// </summary>
        /// <param name="discriminator">The critic D (see <see cref="Modules.SkdDiscriminator"/>).</param>
        /// <param name="student_logits">Student logits [B, K, H, W]; the gradient flows to them (and to D's parameters:
        /// step only the student's optimiser with this term).</param>
        /// <param name="image">The image [B, 3, H', W'] when D was built with image channels, else null.</param>
        /// <param name="lambda_d">λ_d (default 0.1).</param>
        /// <param name="reduction">Over the B per-sample terms −λ_d·D(z_S)_n: Mean (default, the published), Sum, or None
        /// (the [B] terms).</param>
        /// <returns>A 0-d tensor ([B] for None).</returns>
        public static Tensor skd_holistic_generator_loss(Modules.SkdDiscriminator discriminator, Tensor student_logits, Tensor? image = null, double lambda_d = 0.1,
            nn.Reduction reduction = nn.Reduction.Mean)
        {
            ArgumentNullException.ThrowIfNull(discriminator);
            Validate.Features(student_logits, nameof(student_logits), 4, 4);
            Reductions.Defined(reduction);
            using var scope = NewDisposeScope();
            var scores = discriminator.forward(student_logits, image);
            var loss = reduction switch
            {
                nn.Reduction.Mean => -lambda_d * scores.mean(),
                nn.Reduction.Sum => -lambda_d * scores.sum(),
                _ => -lambda_d * scores,
            };
            return loss.MoveToOuterDisposeScope();
        }

        /// <summary>
        /// Holistic structured-KD discriminator term (WGAN-GP; REFERENCE.md):
        /// λ_d·(mean D(z_S) − mean D(z_T)) + λ_d·λ_gp·mean_n (‖∇_x̂ D(x̂_n)‖₂ − 1)², x̂ = α z_T + (1 − α) z_S with one α ~ U(0, 1)
        /// per sample. Both logits are detached (only D learns from this term).
        /// </summary>
        /// <param name="discriminator">The critic D.</param>
        /// <param name="student_logits">Student logits [B, K, H, W].</param>
        /// <param name="teacher_logits">Teacher logits of the same shape.</param>
        /// <param name="image">The image when D was built with image channels (held fixed in the penalty), else null.</param>
        /// <param name="lambda_d">λ_d (default 0.1).</param>
        /// <param name="lambda_gp">λ_gp (default 10).</param>
        /// <param name="generator">Random generator of α (null: the global one).</param>
        /// <param name="reduction">Over the B per-sample terms λ_d·(D(z_S)_n − D(z_T)_n) + λ_d·λ_gp·(‖∇D(x̂_n)‖₂ − 1)²: Mean
        /// (default, the published), Sum, or None (the [B] terms).</param>
        /// <returns>A 0-d tensor ([B] for None) whose graph reaches D's parameters (the penalty through a double backward).</returns>
        /// <remarks>The penalty needs D's input gradient with create_graph, so it costs about one extra forward and two
        /// backward passes of D; memory is that of D's activations (D's self-attention holds (h·w)² maps of its
        /// down-sampled grids).</remarks>
        public static Tensor skd_holistic_discriminator_loss(Modules.SkdDiscriminator discriminator, Tensor student_logits, Tensor teacher_logits,
            Tensor? image = null, double lambda_d = 0.1, double lambda_gp = 10, Generator? generator = null, nn.Reduction reduction = nn.Reduction.Mean)
        {
            ArgumentNullException.ThrowIfNull(discriminator);
            ValidateMaps(student_logits, teacher_logits, nameof(student_logits), nameof(teacher_logits), sameChannels: true);
            Reductions.Defined(reduction);
            using var scope = NewDisposeScope();
            var zs = student_logits.detach();
            var zt = teacher_logits.detach();
            var scoreS = discriminator.forward(zs, image);
            var scoreT = discriminator.forward(zt, image);
            var alpha = rand([zs.shape[0], 1, 1, 1], dtype: zs.dtype, device: zs.device, generator: generator);
            var mixed = (alpha * zt + (1 - alpha) * zs).requires_grad_(true);
            var score = discriminator.forward(mixed, image);
            var g = autograd.grad([score], [mixed], [ones_like(score)], retain_graph: true, create_graph: true)[0];
            var penalties = (g.reshape(g.shape[0], -1).norm(1) - 1).square();
            var loss = reduction switch
            {
                nn.Reduction.Mean => lambda_d * (scoreS.mean() - scoreT.mean()) + lambda_d * lambda_gp * penalties.mean(),
                nn.Reduction.Sum => lambda_d * (scoreS.sum() - scoreT.sum()) + lambda_d * lambda_gp * penalties.sum(),
                _ => lambda_d * (scoreS - scoreT) + lambda_d * lambda_gp * penalties,
            };
            return loss.MoveToOuterDisposeScope();
        }

        /// <summary>[B, C, H, W] maps of one dtype and device, same B, H, W (and C if asked).</summary>
        static void ValidateMaps(Tensor? s, Tensor? t, string sName, string tName, bool sameChannels)
        {
            Validate.Features(s, sName, 4, 4);
            Validate.Features(t, tName, 4, 4);
            PairOp.Validate(s, t, sName, tName, minRank: 4, sameShape: sameChannels);
            if (t!.shape[2] != s!.shape[2] || t.shape[3] != s.shape[3])
                throw new ArgumentException($"{tName} must have the spatial size of {sName} ({s.shape[2]}×{s.shape[3]}), got shape [{string.Join(", ", t.shape)}].", tName);
        }
    }

    /// <summary>
    /// The holistic-KD critic (see <see cref="Modules.SkdDiscriminator"/>): scores logits of <paramref name="in_channels"/> classes,
    /// concatenated with an image of <paramref name="image_channels"/> channels when that is &gt; 0.
    /// </summary>
    /// <param name="in_channels">Classes K of the logits.</param>
    /// <param name="image_channels">Image channels concatenated to the logits (0: none; 3 for RGB).</param>
    /// <param name="base_channels">Channels of the first convolution (doubled at each of the next ones; default 64).</param>
    /// <param name="depth">Number of 4×4 stride-2 spectral-normalised convolutions (default 4, the authors').</param>
    public static Modules.SkdDiscriminator SkdDiscriminator(int in_channels, int image_channels = 0, int base_channels = 64, int depth = 4)
        => new(in_channels, image_channels, base_channels, depth);
}
