using GpuKd.Device;
using GpuKd.Kernels.Cpu;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>Which evaluation of the pair-wise similarity loss runs (tests force one; users get Auto).</summary>
internal enum SkdPairwisePath { Auto, Gram, Direct, Gram32, DirectTiles, Deferred }

/// <summary>How one image of the Gram/direct loop was evaluated (kept for its backward).
/// <see cref="Chosen"/>: the deferred route's float64 Gram form or its direct fallback, chosen on the device.</summary>
internal enum SkdImagePath : byte { Gram64, Gram32, Direct, Direct32, Chosen }

/// <summary>
/// Structured-KD pair-wise loss on (already pooled) maps s [B, Cs, H, W], t [B, Ct, H, W], fused
/// (DESIGN §4). Per image, with the N = H·W node vectors normalised (Ŝ [N, Cs], T̂ [N, Ct]) and
/// A = ŜŜᵀ, Aᵀ = T̂T̂ᵀ never formed:
///   Σ_ij (A^S − A^T)²_ij = ‖ŜᵀŜ‖² − 2‖ŜᵀT̂‖² + ‖T̂ᵀT̂‖²,  ∂/∂Ŝ = 4(Ŝ(ŜᵀŜ) − T̂(T̂ᵀŜ)),
/// and the loss is the mean over B·N². In NCHW an image's [C, N] block already is Ŝᵀ, so the channel
/// Grams are plain GEMMs on it. Precision: the three terms are large and nearly cancel when student ≈
/// teacher (float32 Grams gave 2.5e-2 relative error at 1 % perturbation). So float32 inputs first take float32 Grams
/// (single-precision GEMMs over pixel chunks of ≤ <see cref="Float32ChunkPixels"/>, chunk sums in float64) and keep them
/// only when the loss is at least <see cref="Float32Limit"/> of its largest term (relations that differ by more than
/// ~10 %, e.g. at the start of training); otherwise, and for float64 inputs, every product is accumulated in float64,
/// streamed over pixel chunks of ≤ <see cref="ChunkBytes"/> (O(chunk·C + C²) memory, whatever N). When N·(Cs+Ct) &lt; Cs² + CsCt + Ct² (a few pooled nodes) the direct form
/// D = ŜŜᵀ − T̂T̂ᵀ is cheaper and is used instead. The direct form streamed over m×m tiles of D (never N×N, nor the
/// whole normalised nodes, at once) is also the fallback for an image whose float64 Gram-form loss is below a fraction
/// ρ of its largest term: <see cref="Float64Limit"/> for float64 inputs (which it holds to 1e-10 relative),
/// <see cref="ConditionLimit"/> for float32 inputs (their 1e-4 bar).
/// Saved for the backward: the Grams of the Gram-path images (float32 or float64, as the forward kept them), D of images
/// direct by cost whose N×N fits in <see cref="ChunkBytes"/>, and the input rows (views); the normalised nodes (and the
/// streamed tiles) are recomputed.
/// The node normalisation is a fused kernel: <see cref="CpuSkdNodes"/> on the CPU fast path, the program
/// <see cref="SkdPrograms{T}.Nodes"/> where <see cref="KdRuntime.Programs"/> gives a device (CUDA tensors in place, in
/// libtorch's context and stream; CPU tensors under the ILGPU backend on ILGPU's CPU accelerator), reading the maps in
/// their own dtype (no float64 copy). The Grams and products are libtorch GEMMs on the inputs' own device under every
/// setting.
/// <para><b>Deferred route</b> (CUDA, issue 13; tests force it with <see cref="SkdPairwisePath.Deferred"/>): no value
/// read on the host decides anything, so the op never synchronises. Shapes still choose the few-node batched form and
/// the direct form by cost; the rest is per image: float64 Grams (no float32 attempt: a float64 GEMM on a GPU costs
/// about what the float32 attempt plus its check would), the loss terms and the flag "the Gram form lost its digits"
/// (loss ≤ ρ·max term, ρ as above) as device tensors, and the direct form's value by
/// <see cref="SkdPrograms{T}.DirectRows"/>, which reads the flag and does the O(N²(Cs + Ct)) work only for a flagged
/// image; the image's loss is a device-side select. The backward forms every image's Gram-form gradient and lets
/// <see cref="SkdPrograms{T}.DirectHatGrads"/> overwrite a flagged image's columns with the direct form's (the Gram-form
/// gradient at such an image is 1e-9-off with the norm's gradient through it: measured). Totals and the upstream stay
/// device tensors. Extra memory over the host-choice route: per image two float64 norm vectors [N] (saved) and in the
/// backward a float64 D block [N, m] with N·m·8 ≤ <see cref="ChunkBytes"/>.</para>
/// </summary>
internal sealed unsafe class SkdPairwiseLoss : autograd.SingleTensorFunction<SkdPairwiseLoss>
{
    /// <summary>The authors' node-norm offset (norm + 1e-8, held constant in the backward).</summary>
    internal const double DetachedEps = 1e-8;

    /// <summary>F.normalize's clamp when the gradient goes through the norm.</summary>
    internal const double ClampEps = 1e-12;

    /// <summary>Working set of one pixel chunk (both sides' normalised nodes, float64 or float32).</summary>
    internal static long ChunkBytes = DefaultChunkBytes;

    /// <summary>8 MB.</summary>
    internal const long DefaultChunkBytes = 8L << 20;

    public override string Name => "GpuKdSkdPairwiseLoss";

    public static Tensor Apply(Tensor s, Tensor t, bool detachNorm, SkdPairwisePath path = SkdPairwisePath.Auto)
        => apply(s, t, detachNorm, (int)path);

    /// <summary>True when the direct N×N form costs less than the channel Grams (forward multiply-adds).</summary>
    internal static bool UseDirect(long n, long cs, long ct) => n * (cs + ct) < cs * cs + cs * ct + ct * ct;

    /// <summary>Below this ratio of the loss to its largest Gram term the Gram form has lost too many digits even in
    /// float64 (relative error ≈ 1e-16 / ratio); such an image is recomputed by the tiled direct form. Happens only
    /// when the two relations agree to ~1e-5 or the nodes are nearly parallel (features sharing a large offset).</summary>
    internal const double ConditionLimit = 1e-9;

    /// <summary>float64 inputs: below this ratio ρ of the loss to its largest Gram term an image is recomputed by the streamed
    /// direct form, so that float64 holds 1e-10. Measured (<c>SkdPairwiseLossTests.Float64_offset_features_hold_1e_10</c>
    /// and a scratch sweep over offsets 0…300, noise 1…0.01, N = 9…576, C = 3…64, max-pooled and full resolution): the
    /// float64 Gram-form loss is off by κ·1e-16/ρ with κ ≤ 7 (2e-7 at ρ ≈ 5e-10, offset 100 pooled; 2e-8 at full
    /// resolution), its gradient by ≤ 3e-14 at ρ ≥ 1e-4; the direct form stays at ~1e-12 on those inputs. At 1e-4 the Gram
    /// form is ≤ 7e-12 off, 14× inside 1e-10. Cost: the direct form is N/C times the Gram form's flops, paid only by images
    /// whose relations agree to ~1 % or whose nodes are nearly parallel.</summary>
    internal const double Float64Limit = 1e-4;

    /// <summary>The float32 Grams are kept for an image only when loss ≥ this fraction ρ of its largest Gram term. Measured
    /// (scratch experiment over N = 9…4096, Cs/Ct = 16/32 and 128/512, random, ReLU and student ≈ teacher inputs at 10 %
    /// … 0.1 % noise, 1024-pixel chunks): the float32-Gram loss is off by ≤ 1.1e-7/ρ relative and its gradient by
    /// ≈ 3e-7/√ρ; at ρ ≥ 1e-2 that is ≤ 1.1e-5 and ≤ 3e-6, nine times inside DESIGN §5's 1e-4. Below it the image is redone in float64.
    /// Random or ReLU features give ρ ≈ 0.05–1.5; a student within 3 % of the teacher's relations ρ ≈ 2e-3 (float64).</summary>
    internal const double Float32Limit = 1e-2;

    /// <summary>The float32 products need at least this many channels on each side. MKL's sgemm gave thread-count-dependent
    /// bits for operands of 5–11 rows and as many columns (e.g. [6×6]·[6×432]: 1 vs 2 libtorch threads differ), none in a
    /// probe of 5 360 shapes with both dimensions in 12…513 (scratch probe, libtorch 2.10 CPU); and below 16 channels the
    /// Grams are cheap in float64 anyway. This keeps the float32 paths bit-identical across thread counts
    /// (<c>SkdRepeatabilityTests</c>).</summary>
    internal const long MinFloat32Channels = 16;

    /// <summary>Pixels per float32 chunk at most: the GEMMs' inner dimension, which the float32 rounding error grows with
    /// (the chunk sums are float64).</summary>
    internal const long Float32ChunkPixels = 512;

    /// <summary>How each image of this thread's last call was evaluated (tests read it; the batched few-node path reports
    /// Direct or Direct32 for every image).</summary>
    [ThreadStatic] internal static SkdImagePath[]? LastModes;

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        Tensor s = (Tensor)vars[0], t = (Tensor)vars[1];
        bool detach = (bool)vars[2];
        var path = (SkdPairwisePath)(int)vars[3];
        using var scope = NewDisposeScope();
        long b = s.shape[0], cs = s.shape[1], ct = t.shape[1], n = s.shape[2] * s.shape[3];
        bool directByCost = path == SkdPairwisePath.Direct || (path == SkdPairwisePath.Auto && UseDirect(n, cs, ct));
        var dev = KdRuntime.Programs(s);
        // On CUDA a host read is a synchronisation: every data-dependent choice moves to the device.
        bool deferred = path == SkdPairwisePath.Deferred || (path == SkdPairwisePath.Auto && dev is { Traits.IsCuda: true });
        if (deferred && dev is null) throw new InvalidOperationException("internal: the deferred route runs programs, and these tensors have no program device.");
        bool streamed = path == SkdPairwisePath.DirectTiles;   // tests: every image by the streamed tiles
        var sv = s.detach().reshape(b, cs, n).contiguous();
        var tv = t.detach().reshape(b, ct, n).contiguous();
        var placeholder = empty(0, dtype: ScalarType.Float64, device: s.device);
        var saved = new List<Tensor> { sv, tv };
        var mode = new SkdImagePath[b];
        bool autoFloat32 = path == SkdPairwisePath.Auto && !deferred && s.dtype == ScalarType.Float32 && Math.Min(cs, ct) >= MinFloat32Channels;
        bool tryFloat32 = !directByCost && (path == SkdPairwisePath.Gram32 || autoFloat32);
        double total = 0;
        var totalT = zeros([], dtype: ScalarType.Float64, device: s.device);   // the deferred route's device total
        bool batched = directByCost && b * n * n * 8 <= ChunkBytes && b * (cs + ct) * n * 8 <= 4 * ChunkBytes;
        ctx.save_data("batched", batched);
        if (batched)
        {
            // A few nodes per image (the authors' pooled 3×3): all images in one batched product, a handful of ops
            // instead of a dozen per image (per-op overhead dominates at these sizes). D [B, N, N] is kept.
            // float32 inputs: float32 products, kept when every image's loss is ≥ Float32Limit of its larger ‖A‖² (D's
            // entries are differences of float32 dot products; measured error of the loss ≤ 4e-5 even at ρ = 1e-6,
            // of the gradient ≈ 3e-7/√ρ as in the Gram form). Otherwise float64.
            Tensor? d = null;
            if (path == SkdPairwisePath.Gram32 || autoFloat32)
            {
                var sh = NodesBatched(sv, detach, single: true).Hat;
                var th = NodesBatched(tv, detach, single: true).Hat;
                var aS = sh.transpose(1, 2).bmm(sh);
                var aT = th.transpose(1, 2).bmm(th);
                var termS = aS.square().sum([1, 2], type: ScalarType.Float64);
                var termT = aT.square().sum([1, 2], type: ScalarType.Float64);
                var d32 = aS.sub_(aT);
                var loss = d32.square().sum([1, 2], type: ScalarType.Float64);
                bool keep = path == SkdPairwisePath.Gram32
                    || loss.ge(termS.maximum(termT).mul_(Float32Limit)).all().item<bool>();
                if (keep) { d = d32; total = loss.sum().item<double>(); }
            }
            if (d is null)
            {
                var sh = NodesBatched(sv, detach).Hat;
                var th = NodesBatched(tv, detach).Hat;
                d = sh.transpose(1, 2).bmm(sh).sub_(th.transpose(1, 2).bmm(th));
                if (deferred) totalT = d.square().sum();
                else total = d.square().sum().item<double>();
            }
            saved.Add(d);
            Array.Fill(mode, d.dtype == ScalarType.Float32 ? SkdImagePath.Direct32 : SkdImagePath.Direct);
        }
        else if (deferred)
        {
            var flags = zeros(b, dtype: ScalarType.Float64, device: s.device);
            saved.Add(flags);
            for (long i = 0; i < b; i++)
            {
                using var image = NewDisposeScope();
                if (directByCost)
                {
                    mode[i] = SkdImagePath.Direct;
                    totalT.add_(DirectByCost(sv[i], tv[i], detach, saved, n));
                    saved.Add(placeholder); saved.Add(placeholder); saved.Add(placeholder); saved.Add(placeholder);
                    continue;
                }
                mode[i] = SkdImagePath.Chosen;
                totalT.add_(ChosenImage(dev!, sv[i], tv[i], flags[i], detach, t.requires_grad, saved, placeholder));
            }
        }
        else for (long i = 0; i < b; i++)
        {
            // One scope per image: its Grams, their squares and the chunk buffers are freed before the next image
            // (in the forward's scope they piled up, ≈ 7 MiB per image at Cs = 128, Ct = 512); what the backward needs
            // moves out.
            using var image = NewDisposeScope();
            Tensor Keep(Tensor x) => ReferenceEquals(x, placeholder) ? x : x.MoveToOuterDisposeScope();
            mode[i] = directByCost || streamed ? SkdImagePath.Direct : SkdImagePath.Gram64;
            if (tryFloat32)
            {
                var (gss, gst, gtt) = Grams(sv[i], tv[i], detach, single: true);
                var (a, c, e) = (SumSquares(gss), SumSquares(gst), SumSquares(gtt));
                double loss = a - 2 * c + e;
                if (path == SkdPairwisePath.Gram32 || loss >= Float32Limit * Math.Max(a, e))
                {
                    // Keep it: the backward's products run in float32 on the rounded Grams.
                    mode[i] = SkdImagePath.Gram32;
                    total += loss;
                    saved.Add(Keep(gss.to(ScalarType.Float32))); saved.Add(Keep(gst.to(ScalarType.Float32)));
                    saved.Add(Keep(t.requires_grad ? gtt.to(ScalarType.Float32) : placeholder));
                    continue;
                }
            }
            if (!directByCost && !streamed)
            {
                var (gss, gst, gtt) = Grams(sv[i], tv[i], detach, single: false);
                var (a, c, e) = (SumSquares(gss), SumSquares(gst), SumSquares(gtt));
                double loss = a - 2 * c + e;
                double limit = s.dtype == ScalarType.Float64 ? Float64Limit : ConditionLimit;
                if (path == SkdPairwisePath.Auto && !(loss > limit * Math.Max(a, e))) mode[i] = SkdImagePath.Direct;
                else
                {
                    total += loss;
                    saved.Add(Keep(gss)); saved.Add(Keep(gst)); saved.Add(Keep(t.requires_grad ? gtt : placeholder));
                    continue;
                }
            }
            if (directByCost) total += DirectByCost(sv[i], tv[i], detach, saved, n).item<double>();
            else
            {
                // The precision fallback from the Gram form always streams its tiles.
                total += DirectTiles(sv[i], tv[i], detach, null).item<double>();
                saved.Add(placeholder);
            }
            saved.Add(placeholder); saved.Add(placeholder);
        }
        ctx.save_data("mode", mode);
        ctx.save_data("deferred", deferred);
        LastModes = mode;
        ctx.save_data("detach", detach);
        PairOp.SaveInputs(ctx, CpuBackend.Instance, s, t);
        // Both sides' rows are kept (views of contiguous inputs: no copy): the gradient of one side reads the other
        // side's normalised nodes.
        ctx.save_for_backward([.. saved.Select(x => x.MoveToOuterDisposeScope())]);
        // The terms are non-negative in exact arithmetic; round-off at student = teacher must not give −0.
        if (deferred) return totalT.clamp_min(0).div_((double)n * n * b).to(s.dtype).MoveToOuterDisposeScope();
        double value = Math.Max(0, total) / ((double)n * n * b);
        return torch.tensor(value, dtype: s.dtype, device: s.device).MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        bool needS = PairOp.Needs(ctx, 0), needT = PairOp.Needs(ctx, 1);
        if (!needS && !needT) return [null!, null!, null!, null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        Tensor sv = saved[0], tv = saved[1];
        var mode = (SkdImagePath[])ctx.get_data("mode");
        bool detach = (bool)ctx.get_data("detach");
        bool batched = (bool)ctx.get_data("batched");
        var sShape = (long[])ctx.get_data("shape0");
        var tShape = (long[])ctx.get_data("shape1");
        long b = sShape[0], n = sShape[2] * sShape[3];
        bool deferred = (bool)ctx.get_data("deferred");
        // 4·upstream/(B·N²): a device tensor on the deferred route (no host read), else read once on the host.
        Tensor c = deferred ? grad.detach().to(ScalarType.Float64).mul(4.0 / ((double)n * n * b))
            : torch.tensor(4.0 * PairOp.Upstream(grad) / ((double)n * n * b), dtype: ScalarType.Float64, device: sv.device);
        int first = deferred && !batched ? 3 : 2, stride = deferred && !batched ? 5 : 3;
        Tensor? gradS = needS && !batched ? empty(b, sShape[1], n, dtype: sv.dtype, device: sv.device) : null;
        Tensor? gradT = needT && !batched ? empty(b, tShape[1], n, dtype: tv.dtype, device: tv.device) : null;
        if (batched)
        {
            // ∂/∂Ŝᵀ = 4ŜᵀD, ∂/∂T̂ᵀ = −4T̂ᵀD per image (D symmetric).
            var d = saved[2];
            if (needS) gradS = BatchedGrad(sv, d, c, detach);
            if (needT) gradT = BatchedGrad(tv, d, c.neg(), detach);
        }
        else for (long i = 0; i < b; i++)
        {
            int at = (int)(first + stride * i);
            if (mode[i] == SkdImagePath.Chosen)
            {
                ChosenGrads(KdRuntime.Programs(sv)!, sv[i], tv[i], saved[at], saved[at + 1], saved[at + 2], saved[2][i], saved[at + 3], saved[at + 4],
                            gradS?[i], gradT?[i], c, detach);
                continue;
            }
            if (mode[i] == SkdImagePath.Direct)
            {
                var d = saved[at];
                if (d.numel() == 0) DirectTiles(sv[i], tv[i], detach, new Grads(gradS?[i], gradT?[i], c));
                else
                {
                    // ∂/∂Ŝᵀ = 4ŜᵀD, ∂/∂T̂ᵀ = −4T̂ᵀD (D symmetric).
                    if (needS) Write(gradS![i], sv[i], 0, n, detach, false, sh => sh.mm(d).mul_(c));
                    if (needT) Write(gradT![i], tv[i], 0, n, detach, false, th => th.mm(d).mul_(c).neg_());
                }
                continue;
            }
            Tensor gss = saved[at], gst = saved[at + 1], gtt = saved[at + 2];
            bool single = mode[i] == SkdImagePath.Gram32;
            foreach (var (p0, m) in Chunks(n, sv.shape[1] + tv.shape[1], single))
            {
                using var chunk = NewDisposeScope();
                Tensor si = sv[i], ti = tv[i];
                // ∂/∂Ŝᵀ = 4(ŜᵀŜ·Ŝᵀ − ŜᵀT̂·T̂ᵀ), ∂/∂T̂ᵀ = 4(T̂ᵀT̂·T̂ᵀ − T̂ᵀŜ·Ŝᵀ): in float64, or in float32 where the forward
                // found the two terms far enough apart (relative error ≈ 3e-7/√ρ, see Float32Limit).
                if (needS)
                {
                    var th = Nodes(ti, p0, m, detach, single).Hat;
                    Write(gradS![i], si, p0, m, detach, single, sh => gss.mm(sh).sub_(gst.mm(th)).mul_(c));
                }
                if (needT)
                {
                    var sh = Nodes(si, p0, m, detach, single).Hat;
                    Write(gradT![i], ti, p0, m, detach, single, th => gtt.mm(th).sub_(gst.t().mm(sh)).mul_(c));
                }
            }
        }
        return [needS ? PairOp.Like(ctx, 0, gradS!).MoveToOuterDisposeScope() : null!,
                needT ? PairOp.Like(ctx, 1, gradT!).MoveToOuterDisposeScope() : null!, null!, null!];
    }

    /// <summary>Node-normalised copy of x [B, C, N] (float64, or float32 when <paramref name="single"/>) and the norms
    /// [B, 1, N] (float64): the fused <see cref="CpuSkdNodes"/> kernel image by image on the CPU fast path,
    /// <see cref="SkdPrograms{T}.Nodes"/> (all images in one launch) on a program device (CUDA in place, ILGPU's CPU
    /// accelerator), libtorch ops for a CPU tensor the kernel cannot read.</summary>
    static (Tensor Hat, Tensor Norm) NodesBatched(Tensor x, bool detach, bool single = false)
    {
        var outType = single ? ScalarType.Float32 : ScalarType.Float64;
        double eps = detach ? DetachedEps : ClampEps;
        if (KdRuntime.Programs(x) is { } dev)
        {
            var (h, nrm) = NodesOnDevice(dev, x.contiguous(), 0, x.shape[2], detach, eps, outType);
            return (h, nrm.unsqueeze(1));
        }
        if (CpuKernelApplies(x))
        {
            var hat = empty(x.shape[0], x.shape[1], x.shape[2], dtype: outType);
            var norm = empty(x.shape[0], 1, x.shape[2], dtype: ScalarType.Float64);
            for (long i = 0; i < x.shape[0]; i++) NormalizeCpu(x[i], 0, x.shape[2], hat[i], norm[i], detach, eps);
            return (hat, norm);
        }
        var x64 = x.to(ScalarType.Float64);
        var norm64 = x64.square().sum(1, keepdim: true).sqrt_();
        var div = detach ? norm64 + DetachedEps : norm64.clamp_min(ClampEps);
        return ((x64 / div).to(outType), norm64);
    }

    /// <summary>The CPU node kernel reads x directly: a contiguous float32/float64 CPU tensor on the CPU fast path (no program device).</summary>
    static bool CpuKernelApplies(Tensor x)
        => x.device_type == DeviceType.CPU && x.is_contiguous() && (x.dtype == ScalarType.Float32 || x.dtype == ScalarType.Float64)
           && KdRuntime.Programs(x) is null;

    /// <summary><see cref="CpuSkdNodes.Normalize"/> of the pixel columns [p0, p0 + m) of x [C, N] into hat [C, m] (float32 or
    /// float64, contiguous) and norm [m] (float64): the one place that picks the kernel's element types.</summary>
    static void NormalizeCpu(Tensor x, long p0, long m, Tensor hat, Tensor norm, bool detach, double eps)
    {
        int c = (int)x.shape[0];
        long stride = x.shape[1];
        double* nv = TensorMemory.Ptr<double>(norm);
        bool inF = x.dtype == ScalarType.Float32, outF = hat.dtype == ScalarType.Float32;
        if (inF && outF) CpuSkdNodes.Normalize(TensorMemory.Ptr<float>(x), stride, c, p0, (int)m, TensorMemory.Ptr<float>(hat), nv, detach, eps);
        else if (inF) CpuSkdNodes.Normalize(TensorMemory.Ptr<float>(x), stride, c, p0, (int)m, TensorMemory.Ptr<double>(hat), nv, detach, eps);
        else if (outF) CpuSkdNodes.Normalize(TensorMemory.Ptr<double>(x), stride, c, p0, (int)m, TensorMemory.Ptr<float>(hat), nv, detach, eps);
        else CpuSkdNodes.Normalize(TensorMemory.Ptr<double>(x), stride, c, p0, (int)m, TensorMemory.Ptr<double>(hat), nv, detach, eps);
    }

    /// <summary>Batched gradient of one side: scale·X̂D back through the node normalisation, in the input's dtype.</summary>
    static Tensor BatchedGrad(Tensor x, Tensor d, Tensor scale, bool detach)
    {
        var (hat, norm) = NodesBatched(x, detach, single: d.dtype == ScalarType.Float32);   // as the forward kept D
        var g = hat.bmm(d).mul_(scale);
        if (detach) return g.div_((norm + DetachedEps).to(g.dtype)).to(x.dtype);
        var dot = (hat * g).sum(1, keepdim: true);
        return g.sub_(hat.mul_(dot)).div_(norm.clamp_min(ClampEps).to(g.dtype)).mul_((norm > ClampEps).to(g.dtype)).to(x.dtype);
    }

    /// <summary>Gradient outputs of one image ([Cs, N], [Ct, N], either null) and the factor 4·upstream/(B·N²).</summary>
    sealed record Grads(Tensor? S, Tensor? T, Tensor Scale);

    /// <summary>
    /// The direct form of one image, streamed over m×m tiles of D = ŜŜᵀ − T̂T̂ᵀ (flash-style: neither D nor the whole
    /// normalised Ŝ, T̂ is ever held; each tile's node blocks are normalised when needed, m from <see cref="DirectStep"/>).
    /// With <paramref name="grads"/> null it returns Σ D² (a float64 device scalar): the tiles of the upper block triangle, the off-diagonal ones
    /// counted twice (D is symmetric). Otherwise it writes the gradients column block by column block: for block p,
    /// ∂/∂Ŝᵀ[:, p] = 4 Σ_q Ŝ_q D[q, p] and ∂/∂T̂ᵀ[:, p] = −4 Σ_q T̂_q D[q, p], the sum over q in ascending order in a
    /// [C, m] float64 accumulator, then back through the node normalisation. Each entry of D is a difference formed in
    /// float64, so it stays accurate when the Gram form has cancelled. Extra memory: O(m·(Cs + Ct) + m²), ≤
    /// <see cref="ChunkBytes"/> and a few node blocks, whatever N.
    /// </summary>
    static Tensor DirectTiles(Tensor s, Tensor t, bool detach, Grads? grads)
    {
        using var scope = NewDisposeScope();
        long n = s.shape[1], cs = s.shape[0], ct = t.shape[0];
        long step = DirectStep(n, cs + ct);
        var total = zeros([], dtype: ScalarType.Float64, device: s.device);
        for (long p0 = 0; p0 < n; p0 += step)
        {
            using var row = NewDisposeScope();
            long m = Math.Min(step, n - p0);
            var sp = Nodes(s, p0, m, detach).Hat;
            var tp = Nodes(t, p0, m, detach).Hat;
            var accS = grads?.S is null ? null : zeros(cs, m, dtype: ScalarType.Float64, device: s.device);
            var accT = grads?.T is null ? null : zeros(ct, m, dtype: ScalarType.Float64, device: s.device);
            for (long q0 = grads is null ? p0 : 0; q0 < n; q0 += step)
            {
                using var tile = NewDisposeScope();
                long m2 = Math.Min(step, n - q0);
                var sq = q0 == p0 ? sp : Nodes(s, q0, m2, detach).Hat;
                var tq = q0 == p0 ? tp : Nodes(t, q0, m2, detach).Hat;
                var d = sq.t().mm(sp).sub_(tq.t().mm(tp));   // D[q0:q0+m2, p0:p0+m]
                if (grads is null)
                {
                    total.add_(d.square().sum(), alpha: q0 == p0 ? 1 : 2);
                    continue;
                }
                accS?.addmm_(sq, d);
                accT?.addmm_(tq, d);
            }
            if (accS is not null) Write(grads!.S!, s, p0, m, detach, false, _ => accS.mul_(grads.Scale));
            if (accT is not null) Write(grads!.T!, t, p0, m, detach, false, _ => accT.mul_(grads.Scale).neg_());
        }
        return total.MoveToOuterDisposeScope();
    }

    /// <summary>Side m of the direct form's tiles: a tile (m² float64) and one node block of both sides (m·(Cs + Ct) float64)
    /// each within half of <see cref="ChunkBytes"/>.</summary>
    internal static long DirectStep(long n, long channels)
        => Math.Max(1, Math.Min(n, Math.Min(ChunkBytes / (16 * Math.Max(1, channels)), (long)Math.Sqrt(ChunkBytes / 16.0))));

    /// <summary>Channel Grams of one image, summed over pixel chunks in float64: ŜᵀŜ [Cs, Cs], ŜᵀT̂ [Cs, Ct], T̂ᵀT̂ [Ct, Ct].
    /// <paramref name="single"/>: each chunk's products are float32 GEMMs on float32 nodes (twice the GEMM rate, half the
    /// bytes), added to the float64 sums; else everything is float64.
    /// (Building only T̂ᵀT̂'s upper block triangle saved no time here: libtorch's GEMM ran the 64- or 128-row blocks
    /// that much slower; measured with <c>--skd-gram-probe</c>.)</summary>
    static (Tensor Gss, Tensor Gst, Tensor Gtt) Grams(Tensor s, Tensor t, bool detach, bool single, Tensor? normS = null, Tensor? normT = null)
    {
        long cs = s.shape[0], ct = t.shape[0], n = s.shape[1];
        var gss = zeros(cs, cs, dtype: ScalarType.Float64, device: s.device);
        var gst = zeros(cs, ct, dtype: ScalarType.Float64, device: s.device);
        var gtt = zeros(ct, ct, dtype: ScalarType.Float64, device: s.device);
        // float32: one product buffer per Gram, reused chunk after chunk (addmm_ with beta 0 overwrites it).
        Tensor? pss = null, pst = null, ptt = null;
        if (single)
        {
            pss = empty(cs, cs, dtype: ScalarType.Float32, device: s.device);
            pst = empty(cs, ct, dtype: ScalarType.Float32, device: s.device);
            ptt = empty(ct, ct, dtype: ScalarType.Float32, device: s.device);
        }
        foreach (var (p0, m) in Chunks(n, cs + ct, single))
        {
            using var chunk = NewDisposeScope();
            var (sh, sn) = Nodes(s, p0, m, detach, single);
            var (th, tn) = Nodes(t, p0, m, detach, single);
            normS?.narrow(0, p0, m).copy_(sn);
            normT?.narrow(0, p0, m).copy_(tn);
            if (!single)
            {
                gss.addmm_(sh, sh.t());
                gst.addmm_(sh, th.t());
                gtt.addmm_(th, th.t());
                continue;
            }
            gss.add_(pss!.addmm_(sh, sh.t(), beta: 0));
            gst.add_(pst!.addmm_(sh, th.t(), beta: 0));
            gtt.add_(ptt!.addmm_(th, th.t(), beta: 0));
        }
        return (gss, gst, gtt);
    }

    /// <summary>‖g‖²_F of a float64 Gram. (Not BLAS dot: MKL splits long dots across threads, so their bits depend on
    /// the thread count; libtorch's sum does not.)</summary>
    static double SumSquares(Tensor g) => g.square().sum().item<double>();

    /// <summary>Pixel chunks [p0, p0 + m) whose nodes of both sides fit in <see cref="ChunkBytes"/> (float32: also at most
    /// <see cref="Float32ChunkPixels"/>).</summary>
    static IEnumerable<(long P0, long M)> Chunks(long n, long channels, bool single = false)
    {
        long step = Math.Max(1, ChunkBytes / ((single ? 4 : 8) * Math.Max(1, channels)));
        if (single) step = Math.Min(step, Float32ChunkPixels);
        for (long p0 = 0; p0 < n; p0 += step) yield return (p0, Math.Min(step, n - p0));
    }

    /// <summary>Node-normalised copy (float64, or float32 when <paramref name="single"/>: quotients in double, rounded once)
    /// of the pixel columns [p0, p0 + m) of one image x [C, N] (columns are nodes) and their float64 norms [m]:
    /// x / (‖x‖ + 1e-8) (detached, the authors') or x / max(‖x‖, 1e-12). CPU tensors go through one fused kernel
    /// (<see cref="CpuSkdNodes"/>), tensors of a program device (CUDA in place, or the ILGPU backend's CPU accelerator)
    /// through <see cref="SkdPrograms{T}.Nodes"/>, others (a non-contiguous CPU tensor) through libtorch ops.</summary>
    internal static (Tensor Hat, Tensor Norm) Nodes(Tensor x, long p0, long m, bool detach, bool single = false)
    {
        var outType = single ? ScalarType.Float32 : ScalarType.Float64;
        double eps = detach ? DetachedEps : ClampEps;
        if (CpuKernelApplies(x))
        {
            var hat = empty(x.shape[0], m, dtype: outType);
            var norm = empty(m, dtype: ScalarType.Float64);
            NormalizeCpu(x, p0, m, hat, norm, detach, eps);
            return (hat, norm);
        }
        if (KdRuntime.Programs(x) is { } dev)
        {
            var (h, nv) = NodesOnDevice(dev, x.contiguous().unsqueeze(0), p0, m, detach, eps, outType);
            return (h[0], nv[0]);
        }
        var x64 = x.narrow(1, p0, m).to(ScalarType.Float64);
        var nrm = x64.square().sum(0, keepdim: false).sqrt_();
        var div = detach ? nrm + DetachedEps : nrm.clamp_min(ClampEps);
        return ((x64 / div).to(outType), nrm);
    }

    /// <summary><see cref="SkdPrograms{T}.Nodes"/> of the pixel columns [p0, p0 + m) of every image of x [I, C, N]
    /// (contiguous, on the program device, read in place in its own dtype): hat [I, C, m] of <paramref name="outType"/>
    /// and norm float64 [I, m], tensors on the device; one launch in its own sequence.</summary>
    static (Tensor Hat, Tensor Norm) NodesOnDevice(TorchDevice dev, Tensor x, long p0, long m, bool detach, double eps, ScalarType outType)
    {
        return x.dtype == ScalarType.Float32 ? Typed<float>() : x.dtype == ScalarType.Float64 ? Typed<double>()
            : throw new ArgumentException($"float32 or float64 maps, got {x.dtype}.", nameof(x));

        (Tensor, Tensor) Typed<T>() where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
            => outType == ScalarType.Float32 ? Run<T, float>() : Run<T, double>();

        (Tensor, Tensor) Run<T, TH>() where T : unmanaged, System.Numerics.IFloatingPointIeee754<T> where TH : unmanaged, System.Numerics.IFloatingPointIeee754<TH>
        {
            long images = x.shape[0], c = x.shape[1];
            var (hat, hatBuf) = dev.Keep<TH>(images, c, m);
            var (norm, normBuf) = dev.Keep<double>(images, m);
            using (dev.Sequence())
                SkdPrograms<T>.Nodes(dev, dev.Bind<T>(x), hatBuf, normBuf, (int)images, (int)c, x.shape[2], p0, (int)m, detach, eps);
            return (hat, norm);
        }
    }

    /// <summary>Gradient of one image's pixel block [p0, p0 + m) of a side: ĝ = hatGrad(x̂) is ∂L/∂x̂, then back
    /// through the node normalisation: ĝ/(‖x‖ + 1e-8) with the norm held constant, or (ĝ − x̂(x̂·ĝ))/‖x‖ with the
    /// gradient through it (0 at nodes whose norm is ≤ 1e-12, where the reference's is ~1e12-scaled).</summary>
    static void Write(Tensor grad, Tensor x, long p0, long m, bool detach, bool single, Func<Tensor, Tensor> hatGrad)
    {
        using var scope = NewDisposeScope();
        var (hat, norm) = Nodes(x, p0, m, detach, single);
        grad.narrow(1, p0, m).copy_(NormBack(hatGrad(hat), hat, norm, detach));
    }

    /// <summary>ĝ = ∂L/∂x̂ [C, m] back through the node normalisation (in place on ĝ and x̂): ĝ/(‖x‖ + 1e-8) with the
    /// norm held constant, or (ĝ − x̂(x̂·ĝ))/‖x‖ with the gradient through it (0 where ‖x‖ ≤ 1e-12).</summary>
    static Tensor NormBack(Tensor g, Tensor hat, Tensor norm, bool detach)
    {
        if (detach) return g.div_((norm + DetachedEps).to(g.dtype));
        var dot = (hat * g).sum(0, keepdim: true);
        return g.sub_(hat.mul_(dot)).div_(norm.clamp_min(ClampEps).to(g.dtype)).mul_((norm > ClampEps).to(g.dtype));
    }

    /// <summary>An image whose direct form is cheaper than its Grams (N below the channel counts): Σ D² as a float64
    /// device scalar. D in one piece when N² fits in <see cref="ChunkBytes"/> (added to <paramref name="saved"/> for the
    /// backward, moved out of the caller's scope), else streamed tiles (a placeholder is added).</summary>
    static Tensor DirectByCost(Tensor si, Tensor ti, bool detach, List<Tensor> saved, long n)
    {
        if (n * n * 8 > ChunkBytes)
        {
            saved.Add(empty(0, dtype: ScalarType.Float64, device: si.device).MoveToOuterDisposeScope());
            return DirectTiles(si, ti, detach, null);
        }
        var sh = Nodes(si, 0, n, detach).Hat;
        var th = Nodes(ti, 0, n, detach).Hat;
        var d = sh.t().mm(sh).sub_(th.t().mm(th));
        saved.Add(d.MoveToOuterDisposeScope());
        return d.square().sum();
    }

    /// <summary>The deferred route's forward for one Gram-form image: float64 Grams and the column norms of both sides;
    /// flag (a float64 view, written on the device) = 1 when loss ≤ ρ·max(‖ŜᵀŜ‖², ‖T̂ᵀT̂‖²) (ρ = <see cref="Float64Limit"/>
    /// for float64 inputs, <see cref="ConditionLimit"/> for float32, as the host route) or the loss is NaN; then the
    /// direct form's rows (computed only when the flag is set) and the image's loss, a device-side select. Adds Gss,
    /// Gst, Gtt (or a placeholder when the teacher needs no gradient), the two norm vectors to <paramref name="saved"/>.</summary>
    static Tensor ChosenImage(TorchDevice dev, Tensor si, Tensor ti, Tensor flag, bool detach, bool teacherGrad, List<Tensor> saved, Tensor placeholder)
    {
        long n = si.shape[1];
        var ns = empty(n, dtype: ScalarType.Float64, device: si.device);
        var nt = empty(n, dtype: ScalarType.Float64, device: si.device);
        var (gss, gst, gtt) = Grams(si, ti, detach, single: false, ns, nt);
        var a = gss.square().sum();
        var e = gtt.square().sum();
        var loss = a - 2 * gst.square().sum() + e;
        double limit = si.dtype == ScalarType.Float64 ? Float64Limit : ConditionLimit;
        var keep = loss.gt(a.maximum(e).mul_(limit)).to(ScalarType.Float64);   // 1 or 0; a NaN loss is not kept
        flag.copy_(keep).neg_().add_(1);
        var rows = empty(n, dtype: ScalarType.Float64, device: si.device);
        double eps = detach ? DetachedEps : ClampEps;
        if (si.dtype == ScalarType.Float32) Rows<float>(); else Rows<double>();
        foreach (var x in new[] { gss, gst, teacherGrad ? gtt : placeholder, ns, nt }) saved.Add(ReferenceEquals(x, placeholder) ? x : x.MoveToOuterDisposeScope());
        // A select by exact 0/1 factors (products by 1 and additions of 0 are exact); non-finite terms stay non-finite.
        return loss.mul_(keep).add_(rows.sum().mul_(flag));

        void Rows<T>() where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
        {
            using (dev.Sequence())
                SkdPrograms<T>.DirectRows(dev, dev.Bind<double>(flag), dev.Bind<T>(si), dev.Bind<T>(ti), dev.Bind<double>(ns), dev.Bind<double>(nt),
                                         dev.Bind<double>(rows), (int)si.shape[0], (int)ti.shape[0], (int)n, detach, eps);
        }
    }

    /// <summary>The deferred route's backward for one image (<see cref="SkdImagePath.Chosen"/>), pixel chunk by pixel
    /// chunk: the Gram form's ∂L/∂x̂ᵀ (float64, from the saved Grams), overwritten on the device by the direct form's
    /// where the forward flagged the image (<see cref="SkdPrograms{T}.DirectHatGrads"/>, D in column blocks of
    /// n·m·8 ≤ <see cref="ChunkBytes"/>), scaled by the device scalar c and taken back through the node normalisation.</summary>
    static void ChosenGrads(TorchDevice dev, Tensor si, Tensor ti, Tensor gss, Tensor gst, Tensor gtt, Tensor flag, Tensor ns, Tensor nt,
        Tensor? gradS, Tensor? gradT, Tensor c, bool detach)
    {
        long cs = si.shape[0], ct = ti.shape[0], n = si.shape[1];
        long block = Math.Max(1, Math.Min(n, ChunkBytes / (8 * n)));
        double eps = detach ? DetachedEps : ClampEps;
        foreach (var (p0, m) in Chunks(n, cs + ct))
        {
            using var chunk = NewDisposeScope();
            var (sh, sn) = Nodes(si, p0, m, detach);
            var (th, tn) = Nodes(ti, p0, m, detach);
            var gs = gradS is null ? null : gss.mm(sh).sub_(gst.mm(th));
            var gt = gradT is null ? null : gtt.mm(th).sub_(gst.t().mm(sh));
            var d = empty(n * Math.Min(block, m), dtype: ScalarType.Float64, device: si.device);
            for (long j0 = 0; j0 < m; j0 += block)
            {
                long m2 = Math.Min(block, m - j0);
                if (si.dtype == ScalarType.Float32) Hat<float>(j0, m2); else Hat<double>(j0, m2);
            }
            if (gs is not null) gradS!.narrow(1, p0, m).copy_(NormBack(gs.mul_(c), sh, sn, detach));
            if (gt is not null) gradT!.narrow(1, p0, m).copy_(NormBack(gt.mul_(c), th, tn, detach));

            void Hat<T>(long j0, long m2) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
            {
                using (dev.Sequence())
                    SkdPrograms<T>.DirectHatGrads(dev, dev.Bind<double>(flag), dev.Bind<T>(si), dev.Bind<T>(ti), dev.Bind<double>(ns), dev.Bind<double>(nt),
                        dev.Bind<double>(d), gs is null ? default : dev.Bind<double>(gs), gt is null ? default : dev.Bind<double>(gt),
                        (int)cs, (int)ct, (int)n, (int)(p0 + j0), (int)m2, (int)m, (int)j0, detach, eps);
            }
        }
    }

}
