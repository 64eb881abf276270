using BenchmarkDotNet.Attributes;
using GpuKd.Reference;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>
/// Structured-KD pair-wise loss beside the authors' composition (<see cref="ReferenceSkd.PairwiseLoss"/>): B = 8,
/// student [8, 128, H, W], teacher [8, 512, H, W], float32, forward + backward of the student, pooled (the authors'
/// max pooling at scale 0.5: 2×2 nodes) and unpooled (full resolution, N = H·W). The unpooled reference at 64×64
/// builds two 8×4096×4096 matrices (≈ 3 GiB with autograd) and takes tens of seconds per call on the 2-core
/// machine; 128×128 (≈ 48 GiB) is not run here: see <c>--peak skd-pairwise</c>, which records it as out of memory.
/// FLOP model (unpooled, per image): reference N²(Cs + Ct) forward + 2N²Cs backward (float32); GpuKd
/// N(Cs² + CsCt + Ct²) forward + N·Cs(Cs + Ct) backward (float64).
///   dotnet run -c Release --project bench/GpuKd.Bench -- --filter '*SkdPairwise*' --job short
/// </summary>
public class SkdPairwiseBench : SideBySideBench
{
    Tensor _student = null!, _teacher = null!;

    /// <summary>Map side H = W.</summary>
    [Params(16, 32, 64)] public long Side { get; set; }

    /// <summary>The authors' max pooling (true) or full resolution (false).</summary>
    [Params(true, false)] public bool Pooled { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        gpukd.backend = KdBackend.Cpu;
        _student = randn([8, 128, Side, Side], generator: new Generator(42));
        _teacher = randn([8, 512, Side, Side], generator: new Generator(43));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _student.Dispose();
        _teacher.Dispose();
    }

    SkdPool Pool => Pooled ? SkdPool.Max : SkdPool.None;

    protected override void Run(bool fused, bool backward)
    {
        using var scope = NewDisposeScope();
        var student = _student.detach().requires_grad_(true);
        var value = fused ? gpukd.functional.skd_pairwise_loss(student, _teacher, pool: Pool) : ReferenceSkd.PairwiseLoss(student, _teacher, pool: Pool);
        if (backward) value.backward();
    }
}

/// <summary>
/// Structured-KD pixel-wise loss beside the authors' composition (<see cref="ReferenceSkd.PixelwiseLoss"/>: log-softmax of
/// both sides over the class axis of NCHW logits, p_T·log p_S summed): student and teacher logits [B, K, H, W], float32,
/// forward + backward of the student. K = 19 (Cityscapes), 21 (VOC), 150 (ADE20K).
///   dotnet run -c Release --project bench/GpuKd.Bench -- --filter '*SkdPixelwise*' --job short
///   GPUKD_BENCH_THREADS=1 dotnet run -c Release --project bench/GpuKd.Bench -- --filter '*SkdPixelwise*' --job short --inProcess
/// </summary>
public class SkdPixelwiseBench : SideBySideBench
{
    Tensor _student = null!, _teacher = null!;

    [Params(4, 8, 16)] public long Batch { get; set; }

    [Params(19, 150)] public long Classes { get; set; }

    /// <summary>Map side H = W.</summary>
    [Params(65, 129)] public long Side { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        gpukd.backend = KdBackend.Cpu;
        Measurement.ApplyThreadSetting();
        _student = randn([Batch, Classes, Side, Side], generator: new Generator(42));
        _teacher = randn([Batch, Classes, Side, Side], generator: new Generator(43));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _student.Dispose();
        _teacher.Dispose();
    }

    protected override void Run(bool fused, bool backward)
    {
        using var scope = NewDisposeScope();
        var student = _student.detach().requires_grad_(true);
        var value = fused ? gpukd.functional.skd_pixelwise_loss(student, _teacher) : ReferenceSkd.PixelwiseLoss(student, _teacher);
        if (backward) value.backward();
    }
}
