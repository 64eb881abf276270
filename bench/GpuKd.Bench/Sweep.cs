using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>
/// Scaling sweeps: time and peak extra memory of one forward + backward against the batch size b
/// (fixed D), GpuKd beside the reference, written as CSV and drawn as log–log PNG plots.
///
/// Time: both implementations run in this process, alternately (reference, GpuKd, reference, …),
/// until each has at least <see cref="MinSamples"/> runs and the pair has used
/// <see cref="BudgetSeconds"/>; the figure is the median, and the ratio is the ratio of the medians.
/// Alternating makes both see the same machine load, which matters on a shared 2-core machine
/// where the load drifts over seconds. Memory: each (impl, b) in a fresh child process
/// (<see cref="PeakMemory"/>: peak RSS minus baseline). A reference whose estimated need exceeds
/// the cap is not run and is reported with its estimate.
///
///   dotnet run -c Release --project bench/GpuKd.Bench -- --sweep all|rkd-angle|… [--quick] [--out DIR] [--img DIR]
/// </summary>
public static class Sweep
{
    const int MinSamples = 5, MaxSamples = 41;
    const double BudgetSeconds = 2.0;

    /// <summary>One sweep: a <see cref="PeakMemory"/> case, the swept values and the fixed size. The swept axis is
    /// the batch size b (the case's first size, D = Fixed) or, for map cases, the map side (the second, b = Fixed).</summary>
    internal sealed record Def(string Case, long[] Values, long[] QuickValues, long Fixed, bool SweepsSide = false)
    {
        public (long B, long D) Size(long v) => SweepsSide ? (Fixed, v) : (v, Fixed);
        public string Axis => SweepsSide ? "map side H = W" : "batch size b";
        public string FixedText => SweepsSide ? $"B = {Fixed}, Cs = 128, Ct = 512" : $"D = {Fixed}";
    }

    internal static readonly Def[] Defs =
    [
        new("rkd-angle", [16, 32, 64, 128, 256, 512, 1024], [32, 128], 512),
        new("rkd-distance", [32, 64, 128, 256, 512, 1024, 2048], [64, 256], 512),
        new("sp", [32, 64, 128, 256, 512, 1024, 2048], [64, 256], 2048),
        new("cc", [32, 64, 128, 256, 512, 1024, 2048], [64, 256], 2048),
        new("irg-edge", [32, 64, 128, 256, 512, 1024, 2048], [64, 256], 2048),
        new("skd-pairwise", [16, 24, 32, 48, 64, 96, 128], [16, 32], 8, SweepsSide: true),
    ];

    /// <summary>A measured row of a sweep; a null time or peak means "not run".</summary>
    internal sealed record Row(string Case, long X, long B, long D, string Impl, double? Ms, double? MsLow, double? MsHigh, long? PeakBytes, long? EstimateBytes);

    public static int Run(string[] args)
    {
        string which = args.Length > 1 ? args[1] : "all";
        bool quick = args.Contains("--quick");
        string outDir = Option(args, "--out") ?? "bench/results";
        string imgDir = Option(args, "--img") ?? "docs/img";
        var defs = which == "all" ? Defs : Defs.Where(d => d.Case == which).ToArray();
        if (defs.Length == 0)
        {
            Console.Error.WriteLine($"unknown sweep '{which}'; one of: all, {string.Join(", ", Defs.Select(d => d.Case))}");
            return 2;
        }
        Directory.CreateDirectory(outDir);
        Directory.CreateDirectory(imgDir);
        gpukd.backend = KdBackend.Cpu;
        Measurement.ApplyThreadSetting();
        foreach (var def in defs)
        {
            var rows = Measure(def, quick);
            string csv = Path.Combine(outDir, $"sweep-{def.Case}.csv");
            WriteCsv(csv, rows);
            string png = Path.Combine(imgDir, $"sweep-{def.Case}.png");
            Plots.Sweep(png, def, rows);
            Console.WriteLine($"wrote {csv} and {png}");
        }
        return 0;
    }

    static List<Row> Measure(Def def, bool quick)
    {
        var c = PeakMemory.Cases.Single(x => x.Name == def.Case);
        var rows = new List<Row>();
        Console.WriteLine($"{def.Case}: forward+backward, float32, CPU backend, {def.FixedText}; time: alternating medians; memory: fresh process per case");
        Console.WriteLine($"| {(def.SweepsSide ? "side" : "b")} | reference ms | GpuKd ms | speed-up | reference peak extra | GpuKd peak extra | memory ratio |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var v in quick ? def.QuickValues : def.Values)
        {
            var (b, d) = def.Size(v);
            var m = Measurement.Take(c, b, d);
            rows.Add(new(def.Case, v, b, d, "gpukd", m.Ours.Median, m.Ours.Low, m.Ours.High, m.OursPeak, null));
            rows.Add(new(def.Case, v, b, d, "reference", m.Reference?.Median, m.Reference?.Low, m.Reference?.High, m.ReferencePeak, m.Estimate));
            Console.WriteLine($"| {v} | {m.Cells()} |");
        }
        return rows;
    }

    internal sealed record Stats(double Median, double Low, double High);

    /// <summary>Alternating timing (see the class comment). Low/High are the quartiles.</summary>
    internal static (Stats Ours, Stats? Reference) Time(PeakMemory.Case c, long b, long d, bool referenceRuns)
    {
        using var inputs = NewDisposeScope();
        var (sShape, tShape) = c.Shapes(b, d);
        var student = randn(sShape, generator: new Generator(42));
        var teacher = randn(tShape, generator: new Generator(43));
        double Once(Func<Tensor, Tensor, Tensor> f)
        {
            var sw = Stopwatch.StartNew();
            using (NewDisposeScope()) f(student.detach().requires_grad_(true), teacher).backward();
            return sw.Elapsed.TotalMilliseconds;
        }
        Once(c.Ours);
        if (referenceRuns) Once(c.Reference);
        var ours = new List<double>();
        var reference = new List<double>();
        var total = Stopwatch.StartNew();
        while (ours.Count < MaxSamples && (ours.Count < MinSamples || total.Elapsed.TotalSeconds < BudgetSeconds))
        {
            if (referenceRuns) reference.Add(Once(c.Reference));
            ours.Add(Once(c.Ours));
        }
        return (Summary(ours), referenceRuns ? Summary(reference) : null);
    }

    static Stats Summary(List<double> xs)
    {
        xs.Sort();
        double At(double q) => xs[(int)Math.Round(q * (xs.Count - 1))];
        return new(At(0.5), At(0.25), At(0.75));
    }

    static void WriteCsv(string path, List<Row> rows)
    {
        static string F(double? v) => v?.ToString("F4", CultureInfo.InvariantCulture) ?? "";
        var lines = new List<string> { "case,x,b,D,impl,ms_median,ms_p25,ms_p75,peak_extra_bytes,reference_estimate_bytes" };
        lines.AddRange(rows.Select(r => $"{r.Case},{r.X},{r.B},{r.D},{r.Impl},{F(r.Ms)},{F(r.MsLow)},{F(r.MsHigh)},{r.PeakBytes},{r.EstimateBytes}"));
        File.WriteAllLines(path, lines);
    }

    static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
