using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Two calls on the same input give bit-identical values and gradients (DESIGN §4: each output
/// owned by one thread, no atomics, partial sums combined in a fixed order) — also with libtorch's
/// default thread count, since the suite otherwise runs it single-threaded.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class DeterminismTests(KdBackend backend) : BackendFixture(backend)
{
    (int B, int D) Size => IsIlgpu ? (17, 33) : (64, 1000);

    void AssertRepeatable(string op, ScalarType dtype)
    {
        var c = OpCases.Get(op);
        var (b, d) = Size;
        using var scope = NewDisposeScope();
        var x = Inputs.Randn(c.InputShape(b, d), dtype);
        var (v1, g1) = Autodiff.ValueAndGrad(c.Ours, x);
        var (v2, g2) = Autodiff.ValueAndGrad(c.Ours, x);
        var where = Label(op, $"b={b}", $"D={d}", dtype, $"{torch.get_num_threads()} torch threads");
        Assert.That(Tolerances.Identical(v1, v2), $"{where}: values differ between calls");
        Assert.That(Tolerances.Identical(g1, g2), $"{where}: gradients differ between calls");
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void Repeated_calls_are_bit_identical(string op)
    {
        using var _ = UseBackend();
        AssertRepeatable(op, ScalarType.Float32);
        AssertRepeatable(op, ScalarType.Float64);
    }

    [TestCaseSource(typeof(OpCases), nameof(OpCases.Names))]
    public void Repeated_calls_are_bit_identical_with_default_torch_threads(string op)
    {
        using var _ = UseBackend();
        var threads = torch.get_num_threads();
        try
        {
            torch.set_num_threads(Math.Max(2, TorchThreadsSetUp.DefaultThreads));
            AssertRepeatable(op, ScalarType.Float32);
        }
        finally { torch.set_num_threads(threads); }
    }
}
