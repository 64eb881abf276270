using System.Diagnostics;
using GpuKd.Device;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;
using static GpuKd.Tests.OpRunner;

namespace GpuKd.Tests;

/// <summary>
/// Issue 8 concurrency: 8 threads call different ops at once (thread t runs rows t, t + 8, t + 16, … of
/// <see cref="PublicOps"/> in turn), each result compared bit for bit with a single-threaded run. The ILGPU case
/// starts from a fresh device, so its kernel cache fills while the threads race, and mixes both backends (even
/// threads CPU, odd threads ILGPU): the device gate, the lazily compiled kernels and the scratch pool are all
/// shared. <see cref="DeviceLayerTests.ConcurrentCallsMatchSequentialOnes"/> is the 4-thread relation-op version.
/// </summary>
public sealed class ConcurrencyTests
{
    const int Threads = 8;
    const int B = 6;

    /// <summary>Iterations per thread: 200 (issue 8); on the ILGPU simulator threads 40 (each call costs ~10–30 launches
    /// of ~1 ms there, serialised by the device gate), or 200 with GPUKD_SOAK=full.</summary>
    static int IlgpuIterations => SoakSettings.Full ? 200 : 40;

    static void Race(Func<int, KdBackend> backendOf, Func<int, int> iterationsOf)
    {
        var names = PublicOps.Names.ToArray();
        var expected = new Dictionary<(string, KdBackend), (Tensor, Tensor[])>();
        foreach (var be in Enumerable.Range(0, Threads).Select(backendOf).Distinct())
        foreach (var n in names)
        {
            using var _ = gpukd.use_backend(be);
            using var scope = NewDisposeScope();
            var op = PublicOps.Get(n);
            expected[(n, be)] = Keep(Run(op, op.Inputs(B, ScalarType.Float32)));
        }
        var inputs = names.ToDictionary(n => n, n => PublicOps.Get(n).Inputs(B, ScalarType.Float32).Select(x => x.DetachFromDisposeScope()).ToArray());

        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                var be = backendOf(t);
                using var _ = gpukd.use_backend(be);
                var mine = names.Where((_, i) => i % Threads == t).ToArray();
                for (int it = 0; it < iterationsOf(t); it++)
                {
                    var n = mine[it % mine.Length];
                    using var scope = NewDisposeScope();
                    if (!Identical(Run(PublicOps.Get(n), inputs[n]), expected[(n, be)]))
                        failures.Enqueue($"[{be}] thread {t} iteration {it}: {n} differs from its single-threaded result");
                }
            }
            catch (Exception e) { failures.Enqueue($"thread {t}: {e}"); }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.That(failures, Is.Empty, string.Join("\n", failures.Take(10)));
    }

    [Test]
    public void Eight_threads_on_the_cpu_backend_match_single_threaded_runs()
        => Race(_ => KdBackend.Cpu, _ => 200);

    [Test]
    public void Eight_threads_on_both_backends_from_a_fresh_ilgpu_device()
    {
        var clock = Stopwatch.StartNew();
        KdRuntime.Release();   // the kernel cache fills while the threads race
        Race(t => t % 2 == 0 ? KdBackend.Cpu : KdBackend.Ilgpu, t => t % 2 == 0 ? 200 : IlgpuIterations);
        TestContext.Out.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s");
    }
}
