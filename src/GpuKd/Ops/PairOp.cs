using GpuKd.Device;
using GpuKd.Kernels.Launch;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// Helpers of the two-input loss ops (student, teacher): validation, what the backward needs to
/// know about each input (the <see cref="OpBase"/> pattern, one entry per input), and the scalar
/// loss from per-row partial sums.
/// </summary>
internal static class PairOp
{
    /// <summary>Both are float features of rank ≥ <paramref name="minRank"/>; the teacher matches the
    /// student's batch size, dtype and device (errors name the argument at fault).</summary>
    public static void Validate(Tensor? student, Tensor? teacher, string studentName = "student", string teacherName = "teacher",
        int minRank = 2, bool sameShape = false)
    {
        GpuKd.Validate.Features(student, studentName, minRank);
        GpuKd.Validate.Features(teacher, teacherName, minRank);
        if (teacher!.shape[0] != student!.shape[0])
            throw new ArgumentException($"{teacherName} must have the batch size of {studentName} ({student.shape[0]}), got shape [{string.Join(", ", teacher.shape)}].", teacherName);
        if (sameShape && !teacher.shape.SequenceEqual(student.shape))
            throw new ArgumentException($"{teacherName} must have the shape of {studentName} [{string.Join(", ", student.shape)}], got [{string.Join(", ", teacher.shape)}].", teacherName);
        if (teacher.dtype != student.dtype)
            throw new ArgumentException($"{teacherName} must have the dtype of {studentName} ({student.dtype}), got {teacher.dtype}.", teacherName);
        GpuKd.Validate.SameDevice(student, teacher, studentName, teacherName);
    }

    /// <summary>A loss that needs at least <paramref name="minBatch"/> samples (names the student).</summary>
    public static void MinBatch(Tensor student, int minBatch, string studentName = "student")
    {
        if (student.shape[0] < minBatch)
            throw new ArgumentException($"{studentName} must hold at least {minBatch} samples for this loss, got {student.shape[0]}.", studentName);
    }

    /// <summary>Records the backend and, per input, requires_grad, shape and device.</summary>
    public static void SaveInputs(autograd.AutogradContext ctx, CpuBackend? backend, params Tensor[] inputs)
    {
        ctx.save_data("backend", (object?)backend ?? false);
        for (int i = 0; i < inputs.Length; i++)
        {
            ctx.save_data($"needs{i}", inputs[i].requires_grad);
            ctx.save_data($"shape{i}", inputs[i].shape);
            ctx.save_data($"device{i}", inputs[i].device);
        }
    }

    public static bool Needs(autograd.AutogradContext ctx, int i) => (bool)ctx.get_data($"needs{i}");

    /// <summary>The gradient of input i, shaped and placed like it.</summary>
    public static Tensor Like(autograd.AutogradContext ctx, int i, Tensor grad)
        => grad.reshape((long[])ctx.get_data($"shape{i}")).to((torch.Device)ctx.get_data($"device{i}"));

    /// <summary>x flattened to contiguous CPU rows when its gradient will be wanted, else an empty placeholder
    /// (the backward never reads it; no copy is kept for an input that needs no gradient).</summary>
    public static Tensor KeepIf(bool keep, Tensor rows) => keep ? rows : empty(0, dtype: rows.dtype);

    /// <summary>The upstream gradient of a scalar loss, as a number (read directly for a float tensor: one native call
    /// instead of three at small sizes, where per-op overhead dominates). CPU tensors only: the CPU fast paths call it;
    /// device tensors keep the upstream on the device (the programs, the structured-KD pair-wise loss's deferred route),
    /// which <c>CudaPathTests.ReadsNoValueOnTheHost</c> shows for every op.</summary>
    public static double Upstream(Tensor grad)
    {
        OpBase.CpuOnly(grad);
        if (grad.numel() == 1)
        {
            if (grad.dtype == ScalarType.Float32) return grad.item<float>();
            if (grad.dtype == ScalarType.Float64) return grad.item<double>();
        }
        using var g = grad.detach().to(ScalarType.Float64);
        return g.item<double>();
    }

    /// <summary>(Σ partial) / count as a 0-d tensor of <paramref name="like"/>'s dtype and device; the partial
    /// sums are added in float64 in a fixed order (<see cref="OpBase.OrderedSum"/>: deterministic). A
    /// contiguous CPU partial is summed from its memory (one tensor made instead of five torch ops).</summary>
    public static Tensor Mean(Tensor partial, double count, Tensor like)
    {
        if (partial.device_type == DeviceType.CPU && partial.is_contiguous()
            && partial.dtype is ScalarType.Float32 or ScalarType.Float64)
            return torch.tensor(OpBase.OrderedSum(partial) / count, dtype: like.dtype, device: like.device);
        using var total = partial.to(ScalarType.Float64).sum();
        return (total / count).to(like.dtype).to(like.device);
    }

    /// <summary>The device forward of a student–teacher loss: where <see cref="KdRuntime.Programs"/> gives a device, records
    /// it and the inputs and runs <paramref name="f32"/> or <paramref name="f64"/> (by dtype) there; null for the CPU fast
    /// path (the device choice, null, is recorded too).</summary>
    public static Tensor? TryProgram(autograd.AutogradContext ctx, Tensor student, Tensor teacher, Func<TorchDevice, Tensor> f32, Func<TorchDevice, Tensor> f64)
    {
        var dev = KdRuntime.Programs(student);
        OpBase.SaveDevice(ctx, dev);
        if (dev is null) return null;
        SaveInputs(ctx, null, student, teacher);
        return OpBase.ByType(student, () => f32(dev), () => f64(dev)).MoveToOuterDisposeScope();
    }

    /// <summary>The device backward of a student–teacher loss run as a program: one sequence; the saved tensors are
    /// <paramref name="perSide"/> per side (student first, each side's centred rows first), bound (inside the sequence) into a side record
    /// by <paramref name="side"/>; for each input that wants a gradient, <paramref name="run"/>(self, other, upstream, x̄, b, dim)
    /// writes x̄ — the teacher's with the sides swapped. Returns one gradient per forward argument (null for the rest).</summary>
    public static List<Tensor> DeviceBackward<T, TSide>(TorchDevice dev, autograd.AutogradContext ctx, IList<Tensor> saved, Tensor grad, int perSide,
        Func<Tensor[], TSide> side, Action<TSide, TSide, Buf<T>, Buf<T>, int, int> run, int extraArguments = 1)
        where T : unmanaged
    {
        int b = (int)saved[0].shape[0];
        var up = grad.to(TorchDevice.DType<T>()).contiguous();
        var result = new Tensor?[2];
        using (dev.Sequence())
        {
            var sides = new TSide[2];
            for (int k = 0; k < 2; k++) sides[k] = side([.. saved.Skip(perSide * k).Take(perSide)]);   // bound inside the sequence
            var upBuf = dev.Bind<T>(up);
            for (int k = 0; k < 2; k++)
            {
                if (!Needs(ctx, k)) continue;
                int dim = (int)saved[perSide * k].shape[1];
                var (xbar, xbarBuf) = dev.Keep<T>(b, dim);
                run(sides[k], sides[1 - k], upBuf, xbarBuf, b, dim);
                result[k] = xbar;
            }
        }
        return [.. result.Select((r, k) => r is null ? null! : Like(ctx, k, r).MoveToOuterDisposeScope()), .. Enumerable.Repeat<Tensor>(null!, extraArguments)];
    }
}
