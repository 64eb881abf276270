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
