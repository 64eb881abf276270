using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Reference;

/// <summary>
/// The structured-KD losses of REFERENCE.md (Liu et al., authors' master branch) as plain TorchSharp
/// compositions, written from the formulas independently of GpuKd's fused ops: the oracles of the
/// tests and the baselines of the benchmarks. The pair-wise term materialises both B×N×N similarity
/// matrices as the authors' code does (keep N small). Unlike the authors' <c>feat.float()</c> it keeps
/// the input dtype, so a float64 input is a float64 oracle.
/// </summary>
internal static class ReferenceSkd
{
    /// <summary>Pooling window (kH, kW) = (⌊H·scale⌋, ⌊W·scale⌋), at least 1 (the authors' code would raise on 0).</summary>
    public static (long KH, long KW) PoolKernel(long h, long w, double scale)
        => (Math.Max(1, (long)Math.Floor(h * scale)), Math.Max(1, (long)Math.Floor(w * scale)));

    /// <summary><c>nn.MaxPool2d(kernel, stride = kernel, padding 0, ceil_mode = True)</c>, its average twin, or x itself.</summary>
    public static Tensor Pool(Tensor x, double scale, SkdPool pool)
    {
        if (pool == SkdPool.None) return x;
        var (kh, kw) = PoolKernel(x.shape[2], x.shape[3], scale);
        return pool == SkdPool.Max
            ? nn.functional.max_pool2d(x, [kh, kw], [kh, kw], [0, 0], [1, 1], ceil_mode: true)
            : nn.functional.avg_pool2d(x, [kh, kw], [kh, kw], [0, 0], ceil_mode: true);
    }

    /// <summary>The authors' <c>similarity(feat)</c>: f / (‖f‖ + 1e-8) over channels with the norm detached, then
    /// <c>einsum('icm,icn->imn')</c>: [B, C, H, W] → [B, N, N]. With <paramref name="detachNorm"/> false:
    /// F.normalize (clamp 1e-12) with the gradient through the norm.</summary>
    public static Tensor Similarity(Tensor feat, bool detachNorm = true)
    {
        var norm = feat.pow(2).sum(1, keepdim: true).sqrt();
        var f = detachNorm ? feat / (norm + 1e-8).detach() : feat / norm.clamp_min(1e-12);
        f = f.reshape(f.shape[0], f.shape[1], -1);
        return f.transpose(1, 2).bmm(f);
    }

    /// <summary>Pair-wise loss: Σ (A_T − A_S)² / N² / B on the pooled maps (mean over B·N²).</summary>
    public static Tensor PairwiseLoss(Tensor studentFeat, Tensor teacherFeat, double scale = 0.5, SkdPool pool = SkdPool.Max, bool detachNorm = true)
    {
        var s = Pool(studentFeat, scale, pool);
        var t = Pool(teacherFeat, scale, pool);
        long n = s.shape[2] * s.shape[3], b = s.shape[0];
        var d = Similarity(t, detachNorm) - Similarity(s, detachNorm);
        return (d * d).sum() / ((double)n * n) / b;
    }

    /// <summary>Pixel-wise loss. CrossEntropy: −Σ softmax(z_T/T)·log_softmax(z_S/T) / (H·W) (the authors' at T = 1);
    /// TemperatureKl: T²·Σ softmax(z_T/T)(log_softmax(z_T/T) − log_softmax(z_S/T)) / (B·H·W).</summary>
    public static Tensor PixelwiseLoss(Tensor studentLogits, Tensor teacherLogits, double temperature = 1.0, SkdPixelwise mode = SkdPixelwise.CrossEntropy)
    {
        long b = studentLogits.shape[0], hw = studentLogits.shape[2] * studentLogits.shape[3];
        var logS = (studentLogits / temperature).log_softmax(1);
        var logT = (teacherLogits / temperature).log_softmax(1);
        var pT = logT.exp();
        if (mode == SkdPixelwise.CrossEntropy) return -(pT * logS).sum() / (double)hw;
        return (pT * (logT - logS)).sum() * (temperature * temperature) / ((double)b * hw);
    }
}
