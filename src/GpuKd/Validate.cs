using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd;

/// <summary>Input checks shared by every op: clear <see cref="ArgumentException"/>s that
/// name the argument and say what was expected.</summary>
internal static class Validate
{
    /// <summary>x must be a float32/float64 tensor of rank in [minRank, maxRank] with no
    /// zero-sized dimension; in check mode it must also be finite.</summary>
    public static void Features(Tensor? x, string name, int minRank = 2, int maxRank = int.MaxValue)
    {
        if (x is null) throw new ArgumentNullException(name);
        if (x.dtype != ScalarType.Float32 && x.dtype != ScalarType.Float64)
            throw new ArgumentException($"{name} must be a floating-point tensor (float32, float64; float16/bfloat16 are computed in float32), got {x.dtype}.", name);
        if (x.dim() < minRank || x.dim() > maxRank)
        {
            string want = maxRank == int.MaxValue ? $"at least {minRank}" : minRank == maxRank ? $"{minRank}" : $"{minRank} to {maxRank}";
            throw new ArgumentException($"{name} must have rank {want}, got shape [{string.Join(", ", x.shape)}].", name);
        }
        if (x.device_type != DeviceType.CPU && x.device_type != DeviceType.CUDA && !Device.KdRuntime.MetaProbe(x))
            throw new ArgumentException($"{name} must be a CPU or CUDA tensor, got device {x.device}.", name);
        if (x.numel() == 0)
            throw new ArgumentException($"{name} must not be empty, got shape [{string.Join(", ", x.shape)}].", name);
        if (gpukd.check_inputs)
        {
            using var finite = x.isfinite().all();
            if (!finite.item<bool>())
                throw new ArgumentException($"{name} contains NaN or Inf (check mode is on: gpukd.check_inputs / {gpukd.CheckVariable}).", name);
        }
    }

    /// <summary>In check mode, every tensor of a list argument must be finite; the exception names the list (its
    /// ParamName) and the index (in the message). A no-op when check mode is off; null entries are left to the op.</summary>
    public static void FiniteList(IReadOnlyList<Tensor?> xs, string name)
    {
        if (!gpukd.check_inputs) return;
        for (int i = 0; i < xs.Count; i++)
        {
            if (xs[i] is not { } x || !x.is_floating_point() || x.numel() == 0) continue;
            using var finite = x.isfinite().all();
            if (!finite.item<bool>())
                throw new ArgumentException($"{name}[{i}] contains NaN or Inf (check mode is on: gpukd.check_inputs / {gpukd.CheckVariable}).", name);
        }
    }

    /// <summary>b must live where a lives (same device type and index).</summary>
    public static void SameDevice(Tensor a, Tensor b, string aName, string bName)
    {
        if (b.device_type != a.device_type || b.device_index != a.device_index)
            throw new ArgumentException($"{bName} must be on the device of {aName} ({a.device}), got {b.device}.", bName);
    }

    /// <summary>Mean or Sum (a per-entry result would materialise what the fused op avoids).</summary>
    public static void ScalarReduction(TorchSharp.torch.nn.Reduction reduction, string name)
    {
        if (reduction != TorchSharp.torch.nn.Reduction.Mean && reduction != TorchSharp.torch.nn.Reduction.Sum)
            throw new ArgumentException($"{name} must be Mean or Sum: the fused loss never materialises its per-entry terms.", name);
    }

    /// <summary>A strictly positive, finite scalar option.</summary>
    public static void Positive(double value, string name)
    {
        if (!(value > 0) || double.IsInfinity(value))
            throw new ArgumentException($"{name} must be a positive finite number, got {value}.", name);
    }
}
