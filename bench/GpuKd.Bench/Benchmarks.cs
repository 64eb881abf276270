using BenchmarkDotNet.Attributes;
using GpuKd.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>
/// Shared set-up of every relation-op benchmark: float32 features x [b, D] (seeded), a forward
/// (category "forward") or a forward + backward (category "forward+backward") per invocation with a fixed upstream gradient, on a fresh leaf copy of
/// x, so that the reference composition (baseline) and GpuKd see identical inputs. GpuKd
/// runs its CPU backend. BenchmarkDotNet's MemoryDiagnoser sees managed allocations only;
/// libtorch's native tensor memory is not in its "Allocated" column (`./gpukd bench` prints
/// an estimate of it).
/// </summary>
public abstract class RelationBench : SideBySideBench
{
    Tensor _x = null!;
    Tensor _upstream = null!;

    /// <summary>Batch size b.</summary>
    public abstract long B { get; set; }

    /// <summary>Flattened feature size D.</summary>
    public abstract long D { get; set; }

    /// <summary>The input shape (default [b, D]).</summary>
    protected virtual long[] Shape => [B, D];

    /// <summary>The published composition (ReferenceOps).</summary>
    protected abstract Tensor Reference(Tensor x);

    /// <summary>The fused GpuKd op.</summary>
    protected abstract Tensor Fused(Tensor x);

    [GlobalSetup]
    public void Setup()
    {
        gpukd.backend = KdBackend.Cpu;
        _x = torch.randn(Shape, dtype: ScalarType.Float32, generator: new torch.Generator(42));
        using var scope = torch.NewDisposeScope();
        // The upstream gradient has the output's shape; take it from the reference's output.
        var y = Reference(_x);
        _upstream = torch.randn(y.shape, dtype: ScalarType.Float32, generator: new torch.Generator(7)).DetachFromDisposeScope();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _x.Dispose();
        _upstream.Dispose();
    }

    /// <summary>The forward as in training: the input requires a gradient, so the op saves what its backward
    /// needs (the graph is dropped with the scope); the backward takes a fixed upstream gradient.</summary>
    protected override void Run(bool fused, bool backward)
    {
        using var scope = torch.NewDisposeScope();
        var y = (fused ? (Func<Tensor, Tensor>)Fused : Reference)(_x.detach().requires_grad_(true));
        if (backward) y.backward([_upstream]);
    }

}

/// <summary>Gram matrix X Xᵀ.</summary>
public class GramMatrixBench : RelationBench
{
    [Params(64, 256)] public override long B { get; set; }
    [Params(128, 1024)] public override long D { get; set; }
    protected override Tensor Reference(Tensor x) => ReferenceOps.GramMatrix(x);
    protected override Tensor Fused(Tensor x) => gpukd.functional.gram_matrix(x);
}

/// <summary>Cosine-similarity matrix of the rows.</summary>
public class CosineSimilarityBench : RelationBench
{
    [Params(64, 256)] public override long B { get; set; }
    [Params(128, 1024)] public override long D { get; set; }
    protected override Tensor Reference(Tensor x) => ReferenceOps.CosineSimilarityMatrix(x);
    protected override Tensor Fused(Tensor x) => gpukd.functional.cosine_similarity_matrix(x);
}

/// <summary>Gram matrix with L2-normalised rows (the SP relation).</summary>
public class GramNormalizedBench : RelationBench
{
    [Params(64, 256)] public override long B { get; set; }
    [Params(128, 1024)] public override long D { get; set; }
    protected override Tensor Reference(Tensor x) => ReferenceOps.GramMatrix(x, normalizeRows: true);
    protected override Tensor Fused(Tensor x) => gpukd.functional.gram_matrix(x, normalize_rows: true);
}

/// <summary>Batched cosine-similarity matrices [B, N, C] → [B, N, N] (structured-KD style node
/// similarities): B = 8 images, N = D nodes of C = 64 channels.</summary>
public class CosineBatchedBench : RelationBench
{
    [Params(8)] public override long B { get; set; }
    [Params(256, 1024)] public override long D { get; set; }
    protected override long[] Shape => [B, D, 64];
    protected override Tensor Reference(Tensor x) => ReferenceOps.CosineSimilarityMatrix(x);
    protected override Tensor Fused(Tensor x) => gpukd.functional.cosine_similarity_matrix(x);
}

/// <summary>RKD pairwise distances.</summary>
public class PairwiseDistancesBench : RelationBench
{
    [Params(64, 256)] public override long B { get; set; }
    [Params(128, 1024)] public override long D { get; set; }
    protected override Tensor Reference(Tensor x) => ReferenceOps.PairwiseDistances(x);
    protected override Tensor Fused(Tensor x) => gpukd.functional.pairwise_distances(x);
}

/// <summary>RKD triplet angles (b³ output; the reference also builds b×b×D differences).</summary>
public class TripletAnglesBench : RelationBench
{
    [Params(32, 128)] public override long B { get; set; }
    [Params(128)] public override long D { get; set; }
    protected override Tensor Reference(Tensor x) => ReferenceOps.TripletAngles(x);
    protected override Tensor Fused(Tensor x) => gpukd.functional.triplet_angles(x);
}
