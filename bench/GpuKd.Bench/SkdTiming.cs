using System.Diagnostics;
using GpuKd.Reference;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>
/// Interleaved in-process timing of the structured-KD pair-wise loss at full resolution (forward + backward of the
/// student, float32, B = 8, Cs = 128, Ct = 512; GPUKD_BENCH_THREADS sets libtorch's threads): run k of every variant follows run k of the others, so a shared,
/// loaded machine slows them alike and the ratios stay meaningful. Medians of the runs after one warm-up each.
///   dotnet run -c Release --project bench/GpuKd.Bench -- --skd-time SIDE RUNS [noref]
/// </summary>
public static class SkdTiming
{
    public static int Run(string[] args)
    {
        long side = long.Parse(args[1]);
        int runs = int.Parse(args[2]);
        bool withReference = !(args.Length > 3 && args[3] == "noref");
        gpukd.backend = KdBackend.Cpu;
        Measurement.ApplyThreadSetting();
        var s = randn([8, 128, side, side], generator: new Generator(42));
        var t = randn([8, 512, side, side], generator: new Generator(43));
        var variants = new List<(string Name, Action Body)>
        {
            ("gpukd", () => Step((x, y) => gpukd.functional.skd_pairwise_loss(x, y, pool: SkdPool.None))),
            // The float64-Gram path that near-converged students (loss < 1 % of its terms) take.
            ("gpukd, float64 Grams forced", () => Step((x, y) => gpukd.functional.SkdPairwise(x, y, 0.5, SkdPool.None, true, GpuKd.Ops.SkdPairwisePath.Gram))),
        };
        if (withReference) variants.Add(("reference", () => Step((x, y) => ReferenceSkd.PairwiseLoss(x, y, pool: SkdPool.None))));
        var times = variants.ToDictionary(v => v.Name, _ => new List<double>());
        for (int r = 0; r <= runs; r++)
            foreach (var (name, body) in variants)
            {
                var sw = Stopwatch.StartNew();
                body();
                if (r > 0) times[name].Add(sw.Elapsed.TotalMilliseconds);
            }
        Console.WriteLine($"skd pair-wise, full resolution {side}×{side}, B = 8, Cs = 128, Ct = 512, forward+backward, {runs} interleaved runs (median ms):");
        foreach (var (name, list) in times)
        {
            list.Sort();
            Console.WriteLine($"  {name,-28} {list[list.Count / 2],10:F1}   (min {list[0]:F1}, max {list[^1]:F1})");
        }
        return 0;

        void Step(Func<Tensor, Tensor, Tensor> f)
        {
            using var scope = NewDisposeScope();
            var x = s.detach().requires_grad_(true);
            f(x, t).backward();
        }
    }
}

/// <summary>
/// Interleaved in-process timing of the structured-KD pixel-wise loss (forward + backward of the student, float32
/// logits [B, K, S, S], cross-entropy; GPUKD_BENCH_THREADS sets libtorch's threads, which also bound GpuKd's kernel):
/// GpuKd and the reference alternate run by run; medians, minima and the median of the per-run ratios.
///   dotnet run -c Release --project bench/GpuKd.Bench -- --skd-pixel-time B K SIDE RUNS
/// </summary>
public static class SkdPixelTiming
{
    public static int Run(string[] args)
    {
        long b = long.Parse(args[1]), k = long.Parse(args[2]), side = long.Parse(args[3]);
        int runs = int.Parse(args[4]);
        gpukd.backend = KdBackend.Cpu;
        Measurement.ApplyThreadSetting();
        var s = randn([b, k, side, side], generator: new Generator(42));
        var t = randn([b, k, side, side], generator: new Generator(43));
        var ours = new List<double>();
        var reference = new List<double>();
        var ratios = new List<double>();
        for (int r = 0; r <= runs; r++)
        {
            double o = Step((x, y) => gpukd.functional.skd_pixelwise_loss(x, y));
            double f = Step((x, y) => ReferenceSkd.PixelwiseLoss(x, y));
            if (r == 0) continue;
            ours.Add(o); reference.Add(f); ratios.Add(f / o);
        }
        ours.Sort(); reference.Sort(); ratios.Sort();
        Console.WriteLine($"skd pixel-wise [{b},{k},{side},{side}] float32 fwd+bwd, {runs} interleaved runs, libtorch threads {get_num_threads()}: " +
                          $"reference {reference[runs / 2]:F2} ms (min {reference[0]:F2}), GpuKd {ours[runs / 2]:F2} ms (min {ours[0]:F2}), " +
                          $"speed-up: median of ratios {ratios[runs / 2]:F2}×, of minima {reference[0] / ours[0]:F2}×");
        return 0;

        double Step(Func<Tensor, Tensor, Tensor> f)
        {
            var sw = Stopwatch.StartNew();
            using var scope = NewDisposeScope();
            var x = s.detach().requires_grad_(true);
            f(x, t).backward();
            return sw.Elapsed.TotalMilliseconds;
        }
    }
}
