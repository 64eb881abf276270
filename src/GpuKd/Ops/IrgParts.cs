using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// The IRG parts that need no relation matrix: the vertex loss (logits MSE) and the transformation
/// loss (IRG-t), per-sample vectors of length b, as TorchSharp compositions (O(bD) work and memory;
/// nothing to fuse beyond what libtorch does).
/// </summary>
internal static class IrgParts
{
    /// <summary>The clamp of the per-sample squared distances (KD-Zoo's <c>euclidean_dist_fms</c>, eps = 1e-12).</summary>
    public const double Clamp = 1e-12;

    /// <summary>The per-sample squared distance between two layers of one network, as KD-Zoo's published IRG
    /// (<c>kd_losses/irg.py</c>, <c>euclidean_dist_fms</c>) computes it: when <paramref name="from"/>'s map is larger
    /// (in height or width) it is adaptive-average-pooled to <paramref name="to"/>'s spatial size
    /// (<c>F.adaptive_avg_pool2d</c>: any sizes, e.g. 5×5 → 2×2); when <paramref name="from"/> has half the channels
    /// of <paramref name="to"/>, adjacent channel pairs of <paramref name="to"/> are averaged (and, beyond the
    /// published code, the other way round); then ‖a − c‖² per sample, clamped below at 1e-12, divided by its max
    /// (the max carries gradient unless held constant). NaN or ±Inf in either layer give a non-finite vector.</summary>
    public static Tensor TransformVector(Tensor from, Tensor to, bool differentiateMax, string fromName, string toName)
    {
        GpuKd.Validate.Features(from, fromName);
        GpuKd.Validate.Features(to, toName);
        if (to.shape[0] != from.shape[0])
            throw new ArgumentException($"{toName} must have the batch size of {fromName} ({from.shape[0]}), got shape [{string.Join(", ", to.shape)}].", toName);
        if (to.dtype != from.dtype) throw new ArgumentException($"{toName} must have the dtype of {fromName} ({from.dtype}), got {to.dtype}.", toName);
        GpuKd.Validate.SameDevice(from, to, fromName, toName);
        if (to.dim() != from.dim() || (from.dim() != 2 && from.dim() != 4))
            throw new ArgumentException($"{fromName} and {toName} must both be [b, D] or both [b, C, H, W], got [{string.Join(", ", from.shape)}] and [{string.Join(", ", to.shape)}].", toName);
        // v/max(v) does not change when both layers of a network are scaled alike: huge (1e20) features are brought
        // into range first (their squares would overflow in float32). Tiny ones are not scaled up: the 1e-12 clamp is
        // part of the published semantics.
        Tensor a, c;
        if (from.device_type != DeviceType.CPU)
        {
            using var fd = Scaling.DeviceFactor([from, to]);   // on the device: no host read
            (a, c) = (from * fd, to * fd);
        }
        else
        {
            double f = Scaling.Factor([from, to]);
            (a, c) = (f == 1 ? from : from * f, f == 1 ? to : to * f);
        }
        if (a.dim() == 4)
        {
            long ha = a.shape[2], wa = a.shape[3], hc = c.shape[2], wc = c.shape[3];
            if (ha > hc || wa > wc) a = nn.functional.adaptive_avg_pool2d(a, [hc, wc]);
            else if (ha != hc || wa != wc)
                throw new ArgumentException($"{toName}'s map {hc}×{wc} is larger than {fromName}'s {ha}×{wa}: the transformation pools the earlier layer down to the later one's size, it does not upsample.", toName);
        }
        long ca = a.shape[1], cc = c.shape[1];
        if (cc == 2 * ca) c = FoldChannels(c);
        else if (ca == 2 * cc) a = FoldChannels(a);
        else if (ca != cc)
            throw new ArgumentException($"{fromName} and {toName} must have equal channel counts or counts that differ by a factor 2, got {ca} and {cc}.", toName);
        var v = (a - c).reshape(a.shape[0], -1).square().sum(1).clamp_min(Clamp);   // clamp_min keeps NaN
        var m = v.max();                                                              // NaN if any entry is NaN
        return v / (differentiateMax ? m : m.detach());                              // m ≥ 1e-12: no 0/0 guard, so nothing can hide a NaN
    }

    /// <summary>Every input is valid features and shares the first's batch size, dtype and device (errors name the
    /// argument at fault, so a mismatched teacher layer is blamed on itself, not on its partner).</summary>
    public static void ValidateAligned(string[] names, Tensor[] xs)
    {
        for (int i = 0; i < xs.Length; i++) GpuKd.Validate.Features(xs[i], names[i]);
        for (int i = 1; i < xs.Length; i++)
        {
            if (xs[i].shape[0] != xs[0].shape[0])
                throw new ArgumentException($"{names[i]} must have the batch size of {names[0]} ({xs[0].shape[0]}), got shape [{string.Join(", ", xs[i].shape)}].", names[i]);
            if (xs[i].dtype != xs[0].dtype)
                throw new ArgumentException($"{names[i]} must have the dtype of {names[0]} ({xs[0].dtype}), got {xs[i].dtype}.", names[i]);
            GpuKd.Validate.SameDevice(xs[0], xs[i], names[0], names[i]);
        }
    }

    /// <summary>Adjacent channel pairs (2k, 2k + 1) averaged: [b, 2C, …] → [b, C, …].</summary>
    static Tensor FoldChannels(Tensor x)
    {
        var shape = x.shape.ToArray();
        var split = new long[shape.Length + 1];
        split[0] = shape[0];
        split[1] = shape[1] / 2;
        split[2] = 2;
        Array.Copy(shape, 2, split, 3, shape.Length - 2);
        return x.reshape(split).mean([2L]);
    }

    /// <summary>MSE of two same-shape tensors (mean, sum, or the elementwise squares for None), shapes checked with argument names.</summary>
    public static Tensor Mse(Tensor student, Tensor teacher, string studentName, string teacherName, nn.Reduction reduction = nn.Reduction.Mean)
    {
        GpuKd.Validate.Features(student, studentName, minRank: 1);
        GpuKd.Validate.Features(teacher, teacherName, minRank: 1);
        if (!teacher.shape.SequenceEqual(student.shape))
            throw new ArgumentException($"{teacherName} must have the shape of {studentName} [{string.Join(", ", student.shape)}], got [{string.Join(", ", teacher.shape)}].", teacherName);
        if (teacher.dtype != student.dtype)
            throw new ArgumentException($"{teacherName} must have the dtype of {studentName} ({student.dtype}), got {teacher.dtype}.", teacherName);
        GpuKd.Validate.SameDevice(student, teacher, studentName, teacherName);
        return nn.functional.mse_loss(student, teacher, reduction);
    }
}
