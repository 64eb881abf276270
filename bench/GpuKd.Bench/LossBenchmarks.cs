using BenchmarkDotNet.Attributes;
using GpuKd.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>
/// Shared set-up of the loss benchmarks (issue 4): float32 student [b, D] (requires grad) and teacher
/// [b, D] (no grad), seeded; one forward + backward of the scalar loss per invocation, the reference
/// composition (<see cref="ReferenceLosses"/>) as baseline. GpuKd runs its CPU backend. FLOP model:
/// one Gram per side forward, one product back: ≈ 4b²D multiply-adds per call (the reference does the same
/// products plus its b×b temporaries). Native tensor memory is not in BenchmarkDotNet's Allocated column.
/// </summary>
[MemoryDiagnoser]
public abstract class LossBench
{
    Tensor _s = null!;
    Tensor _t = null!;

    /// <summary>Batch size b.</summary>
    [Params(32, 64, 128, 256, 512)] public long B { get; set; }

    /// <summary>Flattened feature size D (both sides).</summary>
    [Params(64, 2048, 16384, 25088)] public long D { get; set; }

    /// <summary>The published composition.</summary>
    protected abstract Tensor Reference(Tensor student, Tensor teacher);

    /// <summary>The fused GpuKd loss.</summary>
    protected abstract Tensor Fused(Tensor student, Tensor teacher);

    [GlobalSetup]
    public void Setup()
    {
        gpukd.backend = KdBackend.Cpu;
        _s = randn([B, D], dtype: ScalarType.Float32, generator: new Generator(42));
        _t = randn([B, D], dtype: ScalarType.Float32, generator: new Generator(43));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _s.Dispose();
        _t.Dispose();
    }

    [Benchmark(Baseline = true, Description = "reference")]
    public void ReferenceForwardBackward() => ForwardBackward(Reference);

    [Benchmark(Description = "GpuKd")]
    public void GpuKdForwardBackward() => ForwardBackward(Fused);

    void ForwardBackward(Func<Tensor, Tensor, Tensor> loss)
    {
        using var scope = NewDisposeScope();
        var leaf = _s.detach().requires_grad_(true);
        loss(leaf, _t).backward();
    }
}

/// <summary>Similarity-preserving loss.</summary>
public class SpLossBench : LossBench
{
    protected override Tensor Reference(Tensor s, Tensor t) => ReferenceLosses.SpLoss(s, t);
    protected override Tensor Fused(Tensor s, Tensor t) => gpukd.functional.sp_loss(s, t);
}

/// <summary>Correlation-congruence loss, Taylor-RBF kernel (the default).</summary>
public class CcLossBench : LossBench
{
    protected override Tensor Reference(Tensor s, Tensor t) => ReferenceLosses.CcLoss(s, t);
    protected override Tensor Fused(Tensor s, Tensor t) => gpukd.functional.cc_loss(s, t);
}

/// <summary>IRG edge loss (max differentiated).</summary>
public class IrgEdgeLossBench : LossBench
{
    protected override Tensor Reference(Tensor s, Tensor t) => ReferenceLosses.IrgEdgeLoss(s, t);
    protected override Tensor Fused(Tensor s, Tensor t) => gpukd.functional.irg_edge_loss(s, t);
}
