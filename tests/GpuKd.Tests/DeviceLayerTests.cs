using GpuKd.Device;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>The device layer: backend choice, scopes, kernel/device lifetime, pooling,
/// and calls from several threads at once.</summary>
public class DeviceLayerTests
{
    [Test]
    public void BackendVariableIsParsedAndBadValuesNameTheVariable()
    {
        Assert.That(gpukd.ParseBackend(null), Is.EqualTo(KdBackend.Auto));
        Assert.That(gpukd.ParseBackend(" CPU "), Is.EqualTo(KdBackend.Cpu));
        Assert.That(gpukd.ParseBackend("ilgpu"), Is.EqualTo(KdBackend.Ilgpu));
        Assert.That(gpukd.ParseBackend("ilgpu-cpu"), Is.EqualTo(KdBackend.IlgpuCpu));
        Assert.That(() => gpukd.ParseBackend("cuda9"),
            Throws.InstanceOf<ArgumentException>().With.Message.Contains(gpukd.BackendVariable));
    }

    [Test]
    public void UseBackendScopesNestAndRestore()
    {
        var outer = gpukd.backend;
        using (gpukd.use_backend(KdBackend.Ilgpu))
        {
            Assert.That(gpukd.backend, Is.EqualTo(KdBackend.Ilgpu));
            using (gpukd.use_backend(KdBackend.Cpu)) Assert.That(gpukd.backend, Is.EqualTo(KdBackend.Cpu));
            Assert.That(gpukd.backend, Is.EqualTo(KdBackend.Ilgpu));
        }
        Assert.That(gpukd.backend, Is.EqualTo(outer));
    }

    [Test]
    public void RuntimePicksTheBackendPerCall()
    {
        using var x = ones(2, 2);
        using (gpukd.use_backend(KdBackend.Cpu)) Assert.That(KdRuntime.Programs(x), Is.Null, "the CPU fast path");
        using (gpukd.use_backend(KdBackend.Auto)) Assert.That(KdRuntime.Programs(x), Is.Null, "CPU tensors take the CPU fast path");
        foreach (var choice in new[] { KdBackend.Ilgpu, KdBackend.IlgpuCpu })
            using (gpukd.use_backend(choice))
            {
                var dev = KdRuntime.Programs(x);
                Assert.That(dev, Is.Not.Null, $"{choice}: the programs");
                Assert.That(dev!.Inner, Is.InstanceOf<GpuKd.Kernels.Launch.IlgpuAcceleratorDevice>(), $"{choice}: on ILGPU's CPU accelerator over the CPU tensors");
                Assert.That(dev.Traits.IsCuda, Is.False);
            }
    }

    [Test]
    public void IlgpuDeviceIsSharedReleasedAndRecreated()
    {
        var first = KdRuntime.Ilgpu();
        Assert.That(KdRuntime.Ilgpu(), Is.SameAs(first), "one device per process");
        KdRuntime.Release();
        var second = KdRuntime.Ilgpu();
        Assert.That(second, Is.Not.SameAs(first));
        using var scope = NewDisposeScope();
        using (gpukd.use_backend(KdBackend.Ilgpu))
        {
            var x = randn(5, 3, dtype: ScalarType.Float64);
            var g = gpukd.functional.gram_matrix(x);
            Assert.That(torch.allclose(g, x.mm(x.t()), rtol: 1e-12, atol: 1e-12), Is.True, "kernels work after a release");
        }
    }

    [Test]
    public void ScratchIsPooled()
    {
        var pool = KdRuntime.Ilgpu().Scratch;
        long before = pool.PooledBytes;
        var lease = pool.Rent<float>(1000);
        lease.Dispose();
        long after = pool.PooledBytes;
        var again = pool.Rent<float>(900);          // same power-of-two bucket: reused
        Assert.That(pool.PooledBytes, Is.EqualTo(after - 4096));
        again.Dispose();
        Assert.That(after, Is.GreaterThanOrEqualTo(before));
        Assert.That(pool.PooledBytes, Is.EqualTo(after));
    }

    [TestCase(KdBackend.Cpu)]
    [TestCase(KdBackend.Ilgpu)]
    public void ConcurrentCallsMatchSequentialOnes(KdBackend backend)
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        var inputs = Enumerable.Range(0, 4).Select(_ => randn(7, 5, dtype: ScalarType.Float64)).ToArray();
        Func<Tensor, Tensor>[] ops =
        [
            x => gpukd.functional.gram_matrix(x, normalize_rows: true),
            x => gpukd.functional.cosine_similarity_matrix(x),
            x => gpukd.functional.pairwise_distances(x),
            x => gpukd.functional.triplet_angles(x),
        ];
        (Tensor Value, Tensor Grad) Run(int i)
        {
            using var _ = gpukd.use_backend(backend);
            var x = inputs[i].clone().requires_grad_(true);
            var y = ops[i](x);
            y.sum().backward();
            return (y.detach(), x.grad!.detach());
        }
        var sequential = Enumerable.Range(0, 4).Select(Run).ToArray();
        var parallel = new (Tensor, Tensor)[4];
        for (int round = 0; round < 3; round++)
        {
            Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = Run(i));
            for (int i = 0; i < 4; i++)
            {
                Assert.That(parallel[i].Item1.eq(sequential[i].Value).all().item<bool>(), Is.True, $"value of op {i}, round {round}");
                Assert.That(parallel[i].Item2.eq(sequential[i].Grad).all().item<bool>(), Is.True, $"gradient of op {i}, round {round}");
            }
        }
    }
}
