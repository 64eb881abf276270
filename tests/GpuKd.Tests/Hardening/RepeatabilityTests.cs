using GpuKd.Kernels.Cpu;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static GpuKd.Tests.OpRunner;

namespace GpuKd.Tests;

/// <summary>
/// Determinism over every public op (<see cref="PublicOps"/>), both backends: ten runs give bit-identical values and
/// gradients, and so do libtorch on 1 vs 2 threads and the CPU kernels' parallel loops on 1 vs 2 threads (forced
/// parallel whatever the size, <see cref="CpuParallel.Force"/>). Every output has one owner and every reduction a
/// fixed order (DESIGN §4), so the thread count must not matter. <see cref="DeterminismTests"/> checks the relation
/// ops at other sizes.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class RepeatabilityTests(KdBackend backend) : BackendFixture(backend)
{
    /// <summary>(b, widen): D ≈ 200–400 on the CPU, where libtorch's GEMM may split work across threads.</summary>
    (int B, int Widen) Size => IsIlgpu ? (7, 1) : (48, 48);

    (Tensor Value, Tensor[] Grads) Once(PublicOp op)
    {
        var (b, widen) = Size;
        return Run(op, op.Inputs(b, ScalarType.Float32, widen: widen));
    }

    [TestCaseSource(typeof(PublicOps), nameof(PublicOps.Names))]
    public void Ten_runs_are_bit_identical(string name)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var op = PublicOps.Get(name);
        var first = Once(op);
        for (int run = 2; run <= 10; run++)
            Assert.That(Identical(Once(op), first), Label(name, $"run {run} differs from run 1"));
    }

    [TestCaseSource(typeof(PublicOps), nameof(PublicOps.Names))]
    public void One_or_two_threads_give_the_same_bits(string name)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var op = PublicOps.Get(name);
        var threads = torch.get_num_threads();
        try
        {
            torch.set_num_threads(1);
            (Tensor, Tensor[]) sequential;
            using (CpuParallel.Force(1)) sequential = Once(op);
            torch.set_num_threads(2);
            using (CpuParallel.Force(2))
                Assert.That(Identical(Once(op), sequential), Label(name, "libtorch and CPU kernel loops on 2 threads vs 1"));
            Assert.That(Identical(Once(op), sequential), Label(name, "libtorch on 2 threads, kernel loops by size"));
        }
        finally { torch.set_num_threads(threads); }
    }
}
