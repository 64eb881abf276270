using System.Diagnostics;
using GpuKd.Reference;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>Probe: gram_matrix's forward + backward on the CPU path piece by piece, beside the reference's mm and its
/// autograd (float32, the <c>./gpukd bench</c> case: a fixed random upstream).
///   GPUKD_BENCH_THREADS=1 dotnet run -c Release --project bench/GpuKd.Bench -- --gram-probe 256 128</summary>
public static class GramProbe
{
    public static int Run(int b, int d)
    {
        gpukd.backend = KdBackend.Cpu;
        Measurement.ApplyThreadSetting();
        var x = randn([b, d], generator: new Generator(42));
        var up = randn([b, b], generator: new Generator(7));
        var phases = new Dictionary<string, List<double>>();
        var collected = new Dictionary<string, int>();
        void Time(string name, Action a)
        {
            int gen0 = GC.CollectionCount(0);
            var sw = Stopwatch.StartNew();
            a();
            (phases.TryGetValue(name, out var l) ? l : phases[name] = []).Add(sw.Elapsed.TotalMilliseconds);
            collected[name] = collected.GetValueOrDefault(name) + GC.CollectionCount(0) - gen0;
        }
        for (int rep = 0; rep < 200; rep++)
        {
            Time("whole gpukd", () => { using var _ = NewDisposeScope(); gpukd.functional.gram_matrix(x.detach().requires_grad_(true)).backward([up]); });
            Time("whole reference", () => { using var _ = NewDisposeScope(); ReferenceOps.GramMatrix(x.detach().requires_grad_(true)).backward([up]); });
            Time("forward gpukd", () => { using var _ = NewDisposeScope(); gpukd.functional.gram_matrix(x.detach().requires_grad_(true)); });
            Time("forward reference", () => { using var _ = NewDisposeScope(); ReferenceOps.GramMatrix(x.detach().requires_grad_(true)); });
            Time("CpuBackend.Gram2", () => { using var _ = NewDisposeScope(); GpuKd.Device.CpuBackend.Instance.Gram2(x); });
            Time("GramMatrix.Apply (no grad)", () => { using var _ = NewDisposeScope(); GpuKd.Ops.GramMatrix.Apply(x, false); });
            Time("mm x xT", () => { using var _ = NewDisposeScope(); x.mm(x.t()); });
            Time("up + up.t()", () => { using var _ = NewDisposeScope(); var s = up + up.t(); });
            Time("(up + up.t()).mm(x)", () => { using var _ = NewDisposeScope(); (up + up.t()).mm(x); });
            Time("up.mm(x) + up.t().mm(x)", () => { using var _ = NewDisposeScope(); up.mm(x).add_(up.t().mm(x)); });
        }
        Console.WriteLine($"gram [{b},{d}] float32, libtorch threads {get_num_threads()}, 190 runs after 10 warm-up");
        foreach (var (name, l) in phases)
        {
            l.RemoveRange(0, 10);
            double total = l.Sum();
            l.Sort();
            Console.WriteLine($"{name,-28} median {l[l.Count / 2]:F3} ms   min {l[0]:F3} ms   mean {total / l.Count:F3} ms   gen-0 GCs {collected[name]}");
        }
        return 0;
    }
}
