using NUnit.Framework;
using TorchSharp;

namespace GpuKd.Tests;

/// <summary>
/// Runs libtorch single-threaded for the whole test assembly (no namespace-level setup fixture
/// runs around it, since this one is in the root test namespace). The tests' tensors are tiny:
/// with OpenMP workers on a busy 2-core machine a 17×33 mm took ~100–250 µs instead of ~6 µs,
/// and a normalisation ~4 ms instead of ~40 µs, which made the gradient checks 10–100× slower.
/// <see cref="DeterminismTests"/> also runs the ops with the default thread count.
/// </summary>
[SetUpFixture]
public sealed class TorchThreadsSetUp
{
    internal static int DefaultThreads { get; private set; } = Environment.ProcessorCount;

    [OneTimeSetUp]
    public void SingleThreaded()
    {
        DefaultThreads = torch.get_num_threads();
        torch.set_num_threads(1);
    }

    [OneTimeTearDown]
    public void Restore() => torch.set_num_threads(DefaultThreads);
}
