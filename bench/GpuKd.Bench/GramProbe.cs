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
        var timer = new PhaseTimer();
        for (int rep = 0; rep < 200; rep++)
        {
            timer.Time("whole gpukd", () => { using var _ = NewDisposeScope(); gpukd.functional.gram_matrix(x.detach().requires_grad_(true)).backward([up]); });
            timer.Time("whole reference", () => { using var _ = NewDisposeScope(); ReferenceOps.GramMatrix(x.detach().requires_grad_(true)).backward([up]); });
            timer.Time("forward gpukd", () => { using var _ = NewDisposeScope(); gpukd.functional.gram_matrix(x.detach().requires_grad_(true)); });
            timer.Time("forward reference", () => { using var _ = NewDisposeScope(); ReferenceOps.GramMatrix(x.detach().requires_grad_(true)); });
            timer.Time("CpuBackend.Gram2", () => { using var _ = NewDisposeScope(); GpuKd.Device.CpuBackend.Instance.Gram2(x); });
            timer.Time("GramMatrix.Apply (no grad)", () => { using var _ = NewDisposeScope(); GpuKd.Ops.GramMatrix.Apply(x, false); });
            timer.Time("mm x xT", () => { using var _ = NewDisposeScope(); x.mm(x.t()); });
            timer.Time("up + up.t()", () => { using var _ = NewDisposeScope(); var s = up + up.t(); });
            timer.Time("(up + up.t()).mm(x)", () => { using var _ = NewDisposeScope(); (up + up.t()).mm(x); });
            timer.Time("up.mm(x) + up.t().mm(x)", () => { using var _ = NewDisposeScope(); up.mm(x).add_(up.t().mm(x)); });
        }
        Console.WriteLine($"gram [{b},{d}] float32, libtorch threads {get_num_threads()}, 190 runs after 10 warm-up");
        timer.Print(10);
        return 0;
    }
}
