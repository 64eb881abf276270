using GpuKd.Kernels.Cpu;
using GpuKd.Reference;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>Probe: where <c>skd_pixelwise_loss</c>'s forward + backward goes on the CPU path (float32 cross-entropy,
/// student wants a gradient, teacher not — the <c>./gpukd bench</c> case): the fused pass alone on 1 and on libtorch's
/// thread count, the whole op forward and forward + backward, beside the reference's.
///   GPUKD_BENCH_THREADS=2 dotnet run -c Release --project bench/GpuKd.Bench -- --skd-pixel-probe 4 19 65</summary>
public static unsafe class SkdPixelProbe
{
    public static int Run(long b, long k, long side)
    {
        gpukd.backend = KdBackend.Cpu;
        Measurement.ApplyThreadSetting();
        var s = randn([b, k, side, side], generator: new Generator(42));
        var t = randn([b, k, side, side], generator: new Generator(43));
        int p = (int)(side * side), threads = get_num_threads();
        var gs = empty_like(s);
        var partials = empty(CpuSkdPixelwise.Units((int)b, p), dtype: ScalarType.Float64);
        static T* P<T>(Tensor x) where T : unmanaged => GpuKd.Device.TensorMemory.Ptr<T>(x);
        var timer = new PhaseTimer();
        for (int rep = 0; rep < 60; rep++)
        {
            timer.Time("whole gpukd", () => { using var _ = NewDisposeScope(); gpukd.functional.skd_pixelwise_loss(s.detach().requires_grad_(true), t).backward(); });
            timer.Time("whole reference", () => { using var _ = NewDisposeScope(); ReferenceSkd.PixelwiseLoss(s.detach().requires_grad_(true), t).backward(); });
            timer.Time("forward gpukd", () => { using var _ = NewDisposeScope(); gpukd.functional.skd_pixelwise_loss(s.detach().requires_grad_(true), t); });
            timer.Time("forward reference", () => { using var _ = NewDisposeScope(); ReferenceSkd.PixelwiseLoss(s.detach().requires_grad_(true), t); });
            timer.Time("pass, 1 thread", () => CpuSkdPixelwise.Run(P<float>(s), P<float>(t), P<float>(gs), null, P<double>(partials), (int)b, (int)k, p, 1, false, 1.0 / p, 1));
            timer.Time($"pass, {threads} threads", () => CpuSkdPixelwise.Run(P<float>(s), P<float>(t), P<float>(gs), null, P<double>(partials), (int)b, (int)k, p, 1, false, 1.0 / p, threads));
            Thread.Sleep(5);
            timer.Time($"pass, {threads} threads after 5 ms idle", () => CpuSkdPixelwise.Run(P<float>(s), P<float>(t), P<float>(gs), null, P<double>(partials), (int)b, (int)k, p, 1, false, 1.0 / p, threads));
            timer.Time("pass, 1 thread, value only", () => CpuSkdPixelwise.Run(P<float>(s), P<float>(t), null, null, P<double>(partials), (int)b, (int)k, p, 1, false, 1.0 / p, 1));
            timer.Time("gs * 1 (the backward's scaling)", () => { using var scope = NewDisposeScope(); var scaled = gs * 1.0; });
        }
        Console.WriteLine($"skd pixel-wise [{b},{k},{side},{side}] float32, libtorch threads {threads}, 50 runs after 10 warm-up");
        timer.Print(10);
        return 0;
    }
}
