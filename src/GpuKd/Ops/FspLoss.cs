using GpuKd.Device;
using GpuKd.Kernels.Programs;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// FSP (Yim et al., CVPR 2017; RepDistiller <c>FSP</c>): for each pair of consecutive layers (bot, top) of each side the
/// FSP matrix F = top·botᵀ/N per image ([B, Ct, Cb], the mean over the N positions; the larger-H map of the pair
/// adaptive-average-pooled to the other's size first, by libtorch with its own autograd), and
/// L = Σ_i w_i·c_i·‖F_s − F_t‖² (c_i = 1/(B·Ct·Cb) for the published mean, 1 for Sum). One autograd node per layer
/// pair (<see cref="FspPrograms{T}"/> on a device, a CPU fast path otherwise); a middle layer gets its gradient from both
/// pairs through autograd. Saved per pair: the (pooled) maps of each side that needs a gradient and D = F_s − F_t
/// [B, Ct, Cb] — never the published [B, Ct, Cb, N] product.
/// </summary>
internal sealed class FspLoss : autograd.SingleTensorFunction<FspLoss>
{
    public override string Name => "GpuKdFspLoss";

    const string S = "student_layers", T = "teacher_layers";

    /// <summary>CPU path, float32: the most bytes of one side's maps widened to double at a time (settable for the test
    /// that runs one image per chunk; the result does not depend on it).</summary>
    internal static long WideChunkBytes = 4L << 20;

    /// <summary>The whole loss: validation (every error names the list, its message the index), the pooling per pair and
    /// one fused node per pair, added in order.</summary>
    public static Tensor Apply(IReadOnlyList<Tensor> student, IReadOnlyList<Tensor> teacher, IReadOnlyList<double>? weights, nn.Reduction reduction)
    {
        Reductions.MeanOrSum(reduction, "fsp_loss", "the B·Ct·Cb entries of each layer pair's FSP matrices");
        if (student is null) throw new ArgumentNullException(S);
        if (teacher is null) throw new ArgumentNullException(T);
        if (student.Count < 2) throw new ArgumentException($"{S} must hold at least two layers (FSP relates consecutive layers), got {student.Count}.", S);
        if (teacher.Count != student.Count)
            throw new ArgumentException($"{T} must hold one layer per student layer ({student.Count}), got {teacher.Count}.", T);
        int pairs = student.Count - 1;
        if (weights is not null)
        {
            if (weights.Count != pairs) throw new ArgumentException($"weights must hold one weight per consecutive layer pair ({pairs}), got {weights.Count}.", nameof(weights));
            for (int i = 0; i < pairs; i++)
                if (!double.IsFinite(weights[i])) throw new ArgumentException($"weights[{i}] must be finite, got {weights[i]}.", nameof(weights));
        }
        for (int i = 0; i < student.Count; i++)
        {
            if (student[i] is null) throw new ArgumentNullException(S, $"{S}[{i}] is null.");
            if (teacher[i] is null) throw new ArgumentNullException(T, $"{T}[{i}] is null.");
        }
        Validate.FiniteList(student, S);
        Validate.FiniteList(teacher, T);
        string[] names = [.. Enumerable.Repeat(S, student.Count), .. Enumerable.Repeat(T, teacher.Count)];
        return Precision.Lift(names, [.. student, .. teacher], xs => Run(xs[..student.Count], xs[student.Count..], weights, reduction));
    }

    static Tensor Run(Tensor[] s, Tensor[] t, IReadOnlyList<double>? weights, nn.Reduction reduction)
    {
        for (int i = 0; i < s.Length; i++)
        {
            Check(s[i], S, i, s[0]);
            Check(t[i], T, i, s[0]);
            if (t[i].shape[1] != s[i].shape[1])
                throw new ArgumentException($"{T}[{i}] must have the channels of {S}[{i}] ({s[i].shape[1]}), got {t[i].shape[1]} " +
                                            "(the published FSP asserts equal channel counts per layer).", T);
        }
        using var scope = NewDisposeScope();
        Tensor? total = null;
        for (int i = 0; i + 1 < s.Length; i++)
        {
            var (bs, ts) = Pool(s[i], s[i + 1], S, i);
            var (bt, tt) = Pool(t[i], t[i + 1], T, i);
            double w = weights?[i] ?? 1.0;
            double c = reduction == nn.Reduction.Mean ? w / ((double)bs.shape[0] * ts.shape[1] * bs.shape[1]) : w;
            var term = apply(bs, ts, bt, tt, c);
            total = total is null ? term : total + term;
        }
        return total!.MoveToOuterDisposeScope();
    }

    /// <summary>A 4-D float map like <paramref name="first"/> (batch, dtype, device); the list named, the index in the message.</summary>
    static void Check(Tensor x, string list, int i, Tensor first)
    {
        try
        {
            GpuKd.Validate.Features(x, $"{list}[{i}]", minRank: 4, maxRank: 4);
        }
        catch (ArgumentException e) when (e is not ArgumentNullException)
        {
            string msg = e.Message;
            int cut = msg.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
            throw new ArgumentException(cut > 0 ? msg[..cut] : msg, list, e);
        }
        if (x.shape[0] != first.shape[0])
            throw new ArgumentException($"{list}[{i}] must have the batch size of {S}[0] ({first.shape[0]}), got shape [{string.Join(", ", x.shape)}].", list);
        if (x.dtype != first.dtype)
            throw new ArgumentException($"{list}[{i}] must have the dtype of {S}[0] ({first.dtype}), got {x.dtype}.", list);
        if (x.device_type != first.device_type || x.device_index != first.device_index)
            throw new ArgumentException($"{list}[{i}] must be on the device of {S}[0] ({first.device}), got {x.device}.", list);
    }

    /// <summary>RepDistiller's rule for a pair (bot = layers[i], top = layers[i + 1]): the map with the larger H is
    /// adaptive-average-pooled to the other's size (published: to (H, H); here to (H, W), the same wherever the published
    /// code runs — the smaller map square); equal heights need equal widths (the published product would fail).</summary>
    internal static (Tensor Bot, Tensor Top) Pool(Tensor bot, Tensor top, string list, int i)
    {
        long hb = bot.shape[2], wb = bot.shape[3], ht = top.shape[2], wt = top.shape[3];
        if (hb > ht) bot = nn.functional.adaptive_avg_pool2d(bot, [ht, wt]);
        else if (hb < ht) top = nn.functional.adaptive_avg_pool2d(top, [hb, wb]);
        else if (wb != wt)
            throw new ArgumentException($"{list}[{i + 1}] must have the width of {list}[{i}] ({wb}) when their heights are equal ({hb}), got {wt}: " +
                                        "the published code pools only by height.", list);
        return (bot, top);
    }

    static Tensor Flat(Tensor x) => x.reshape(x.shape[0], x.shape[1], -1).contiguous();

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (bs, ts, bt, tt, c) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (Tensor)vars[3], (double)vars[4]);
        using var scope = NewDisposeScope();
        bool needS = bs.requires_grad || ts.requires_grad, needT = bt.requires_grad || tt.requires_grad;
        PairOp.SaveInputs(ctx, null, bs, ts, bt, tt);
        ctx.save_data("c", c);
        Tensor bsF = Flat(bs), tsF = Flat(ts), btF = Flat(bt), ttF = Flat(tt);
        long b = bsF.shape[0], cb = bsF.shape[1], ct = tsF.shape[1], ns = bsF.shape[2], nt = btF.shape[2];
        var dev = KdRuntime.Programs(bs);
        OpBase.SaveDevice(ctx, dev);
        Tensor d, loss;
        if (dev is not null)
        {
            (d, loss) = OpBase.ByType(bs, () => OnDevice<float>(dev, bsF, tsF, btF, ttF, c), () => OnDevice<double>(dev, bsF, tsF, btF, ttF, c));
        }
        else
        {
            // CPU fast path: F′ = top·botᵀ per image (bmm), D = F′s/Ns − F′t/Nt, L = c·Σ D² (in order, in double). float32
            // maps are multiplied in double and D rounded once: F_s and F_t nearly cancel near the teacher, where a float32
            // GEMM's rounding (blocked sums) exceeds the published code's cascade-summed mean.
            // The widened copies are made a few images at a time (≤ WideChunkBytes per side), not for the whole batch.
            using (var inner = NewDisposeScope())
            {
                bool wide = bs.dtype == ScalarType.Float32;
                var dw = empty([b, ct, cb], dtype: ScalarType.Float64);
                long perImage = 8 * Math.Max((cb + ct) * ns, (cb + ct) * nt);
                long chunk = wide ? Math.Clamp(WideChunkBytes / Math.Max(perImage, 1), 1, b) : b;
                for (long z = 0; z < b; z += chunk)
                {
                    using var step = NewDisposeScope();
                    long m = Math.Min(chunk, b - z);
                    Tensor W(Tensor x) => x.narrow(0, z, m).to(ScalarType.Float64);
                    dw.narrow(0, z, m).copy_(W(tsF).bmm(W(bsF).transpose(1, 2)).mul_(1.0 / ns).sub_(W(ttF).bmm(W(btF).transpose(1, 2)).mul_(1.0 / nt)));
                }
                loss = torch.tensor(c * OpBase.OrderedSum(dw.square()), dtype: bs.dtype).MoveToOuterDisposeScope();
                d = (wide ? dw.to(ScalarType.Float32) : dw).MoveToOuterDisposeScope();
            }
        }
        ctx.save_for_backward([.. new[] { PairOp.KeepIf(needS, bsF), PairOp.KeepIf(needS, tsF), PairOp.KeepIf(needT, btF), PairOp.KeepIf(needT, ttF), d }
            .Select(x => x.MoveToOuterDisposeScope())]);
        return loss.MoveToOuterDisposeScope();
    }

    static (Tensor D, Tensor Loss) OnDevice<TE>(TorchDevice dev, Tensor bs, Tensor ts, Tensor bt, Tensor tt, double c)
        where TE : unmanaged, System.Numerics.IFloatingPointIeee754<TE>
    {
        int b = (int)bs.shape[0], cb = (int)bs.shape[1], ct = (int)ts.shape[1], ns = (int)bs.shape[2], nt = (int)bt.shape[2];
        var (loss, lossBuf) = dev.Keep<TE>();
        Tensor d;
        using (dev.Sequence())
        {
            Kernels.Launch.Buf<TE> db;
            (d, db) = dev.Keep<TE>(b, ct, cb);
            FspPrograms<TE>.Forward(dev, dev.Bind<TE>(bs), dev.Bind<TE>(ts), dev.Bind<TE>(bt), dev.Bind<TE>(tt), db, lossBuf, b, ct, cb, ns, nt, c);
        }
        return (d, loss);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        var need = Enumerable.Range(0, 4).Select(i => PairOp.Needs(ctx, i)).ToArray();
        var result = new Tensor?[4];
        if (!need.Any(x => x)) return [null!, null!, null!, null!, null!];
        using var scope = NewDisposeScope();
        var saved = ctx.get_saved_variables();
        double c = (double)ctx.get_data("c");
        Tensor d = saved[4];
        if (OpBase.ProgramDevice(ctx) is { } dev)
        {
            var grads = OpBase.ByType(d, () => BackwardOnDevice<float>(dev, saved, d, grad, need, c), () => BackwardOnDevice<double>(dev, saved, d, grad, need, c));
            for (int i = 0; i < 4; i++) result[i] = grads[i];
        }
        else
        {
            // R = ±(2c/N)·up·D per side; top̄ = R·bot, bot̄ = Rᵀ·top.
            double up = PairOp.Upstream(grad);
            for (int side = 0; side < 2; side++)
            {
                bool needBot = need[2 * side], needTop = need[2 * side + 1];
                if (!needBot && !needTop) continue;
                Tensor bot = saved[2 * side], top = saved[2 * side + 1];
                using var r = d.mul((side == 0 ? 2 : -2) * c / bot.shape[2] * up);
                if (needBot) result[2 * side] = r.transpose(1, 2).bmm(top);
                if (needTop) result[2 * side + 1] = r.bmm(bot);
            }
        }
        return [.. result.Select((g, i) => g is null ? null! : PairOp.Like(ctx, i, g).MoveToOuterDisposeScope()), null!];
    }

    static Tensor?[] BackwardOnDevice<TE>(TorchDevice dev, IList<Tensor> saved, Tensor d, Tensor grad, bool[] need, double c)
        where TE : unmanaged, System.Numerics.IFloatingPointIeee754<TE>
    {
        int b = (int)d.shape[0], ct = (int)d.shape[1], cb = (int)d.shape[2];
        var up = grad.to(TorchDevice.DType<TE>()).contiguous();
        var result = new Tensor?[4];
        using (dev.Sequence())
        {
            var upBuf = dev.Bind<TE>(up);
            var dBuf = dev.Bind<TE>(d);
            for (int side = 0; side < 2; side++)
            {
                bool needBot = need[2 * side], needTop = need[2 * side + 1];
                if (!needBot && !needTop) continue;
                Tensor bot = saved[2 * side], top = saved[2 * side + 1];
                int n = (int)bot.shape[2];
                Kernels.Launch.Buf<TE>? botBar = null, topBar = null;
                if (needBot) { (result[2 * side], var bb) = dev.Keep<TE>(b, cb, n); botBar = bb; }
                if (needTop) { (result[2 * side + 1], var tb) = dev.Keep<TE>(b, ct, n); topBar = tb; }
                FspPrograms<TE>.Backward(dev, dev.Bind<TE>(bot), dev.Bind<TE>(top), dBuf, upBuf, botBar, topBar, b, ct, cb, n,
                                         (side == 0 ? 2 : -2) * c / n);
            }
        }
        return result;
    }
}
