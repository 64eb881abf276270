using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// The node pooling of the structured-KD pair-wise loss: windows (kH, kW) = (⌊H·scale⌋, ⌊W·scale⌋), stride =
/// window, no padding, ceil mode (the authors' <c>nn.MaxPool2d(..., ceil_mode=True)</c>; 65×65 at scale 0.5 →
/// 3×3 nodes). libtorch's own pooling ops and their autograd (max: to the arg-max; average: spread) do this
/// part; the fused op is the similarity loss after it.
/// </summary>
internal static class SkdPooling
{
    /// <summary>The window; at least 1 (the authors' code raises where ⌊size·scale⌋ = 0, e.g. a 1×1 map).</summary>
    public static (long KH, long KW) Kernel(long h, long w, double scale)
        => (Math.Max(1, (long)Math.Floor(h * scale)), Math.Max(1, (long)Math.Floor(w * scale)));

    public static Tensor Apply(Tensor x, double scale, SkdPool pool)
    {
        if (pool == SkdPool.None) return x;
        var (kh, kw) = Kernel(x.shape[2], x.shape[3], scale);
        if (kh == 1 && kw == 1) return x;
        return pool == SkdPool.Max
            ? nn.functional.max_pool2d(x, [kh, kw], [kh, kw], [0, 0], [1, 1], ceil_mode: true)
            : nn.functional.avg_pool2d(x, [kh, kw], [kh, kw], [0, 0], ceil_mode: true);
    }
}
