using System.Diagnostics;
using ILGPU.Runtime;

namespace GpuKd.KernelBench;

/// <summary>Wall-clock timing of a launch sequence: warm-up runs (the first compiles the kernels),
/// then runs timed one by one with a Stopwatch around the launches and
/// <see cref="Accelerator.Synchronize"/>, until <c>maxReps</c> or the time budget is spent (at least
/// <c>minReps</c>). Reports the median and the minimum in milliseconds.</summary>
internal static class Timing
{
    public static (double Median, double Min, int Reps) Measure(Action run, Accelerator acc, int warmup, int minReps, int maxReps, double budgetMs)
    {
        for (int i = 0; i < warmup; i++) { run(); acc.Synchronize(); }
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        var sw = new Stopwatch();
        while (times.Count < maxReps && (times.Count < minReps || total.Elapsed.TotalMilliseconds < budgetMs))
        {
            sw.Restart();
            run();
            acc.Synchronize();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        int n = times.Count;
        double median = n % 2 == 1 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
        return (median, times[0], n);
    }
}
