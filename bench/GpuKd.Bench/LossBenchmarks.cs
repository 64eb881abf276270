using BenchmarkDotNet.Attributes;
using GpuKd.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>
/// Shared set-up of the loss benchmarks: float32 student [b, D] and teacher [b, D] (seeded),
/// one forward (category "forward") or forward + backward (category "forward+backward") of the
/// student per invocation, the teacher without gradient, as in training. GpuKd runs its CPU backend; the reference is the authors' composition.
/// </summary>
public abstract class LossBench : SideBySideBench
{
    Tensor _student = null!;
    Tensor _teacher = null!;

    /// <summary>Batch size b.</summary>
    public abstract long B { get; set; }

    /// <summary>Feature size D (student and teacher alike).</summary>
    public abstract long D { get; set; }

    protected abstract Tensor Reference(Tensor student, Tensor teacher);
    protected abstract Tensor Fused(Tensor student, Tensor teacher);

    [GlobalSetup]
    public void Setup()
    {
        gpukd.backend = KdBackend.Cpu;
        _student = randn([B, D], dtype: ScalarType.Float32, generator: new Generator(42));
        _teacher = randn([B, D], dtype: ScalarType.Float32, generator: new Generator(43));
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
        var value = (fused ? (Func<Tensor, Tensor, Tensor>)Fused : Reference)(_student.detach().requires_grad_(true), _teacher);
        if (backward) value.backward();
    }
}

/// <summary>RKD angle loss. The reference builds b×b×D and b³ tensors: b = 512 at D = 512 is
/// its largest size here (see bench/peak for the memory sweep up to b = 1024, D = 2048).</summary>
public class RkdAngleLossBench : LossBench
{
    [Params(64, 128, 256)] public override long B { get; set; }
    [Params(128, 512)] public override long D { get; set; }
    protected override Tensor Reference(Tensor s, Tensor t) => ReferenceOps.RkdAngleLoss(s, t);
    protected override Tensor Fused(Tensor s, Tensor t) => gpukd.functional.rkd_angle_loss(s, t);
}

/// <summary>RKD distance loss.</summary>
public class RkdDistanceLossBench : LossBench
{
    [Params(64, 128, 256, 512)] public override long B { get; set; }
    [Params(128, 512, 2048)] public override long D { get; set; }
    protected override Tensor Reference(Tensor s, Tensor t) => ReferenceOps.RkdDistanceLoss(s, t);
    protected override Tensor Fused(Tensor s, Tensor t) => gpukd.functional.rkd_distance_loss(s, t);
}

/// <summary>Issue 4's grid for the Gram-core losses: b ∈ {32 … 512}, D ∈ {64, 2048, 16384, 25088}.
/// FLOP model: one Gram per side forward and one product back, ≈ 4b²D multiply-adds per call.</summary>
public abstract class GramLossBench : LossBench
{
    [Params(32, 64, 128, 256, 512)] public override long B { get; set; }
    [Params(64, 2048, 16384, 25088)] public override long D { get; set; }
}

/// <summary>Similarity-preserving loss.</summary>
public class SpLossBench : GramLossBench
{
    protected override Tensor Reference(Tensor s, Tensor t) => ReferenceLosses.SpLoss(s, t);
    protected override Tensor Fused(Tensor s, Tensor t) => gpukd.functional.sp_loss(s, t);
}

/// <summary>Correlation-congruence loss, Taylor-RBF kernel (the default).</summary>
public class CcLossBench : GramLossBench
{
    protected override Tensor Reference(Tensor s, Tensor t) => ReferenceLosses.CcLoss(s, t);
    protected override Tensor Fused(Tensor s, Tensor t) => gpukd.functional.cc_loss(s, t);
}

/// <summary>IRG edge loss (max differentiated).</summary>
public class IrgEdgeLossBench : GramLossBench
{
    protected override Tensor Reference(Tensor s, Tensor t) => ReferenceLosses.IrgEdgeLoss(s, t);
    protected override Tensor Fused(Tensor s, Tensor t) => gpukd.functional.irg_edge_loss(s, t);
}
