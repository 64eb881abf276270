using System.Diagnostics;
using System.Globalization;
using GpuKd.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Bench;

/// <summary>
/// Measured (not estimated) time and peak extra memory of one forward + backward, each case
/// in a fresh child process so that native memory (libtorch, ILGPU) is seen and nothing
/// carries over between cases.
///
/// Method, in the child: inputs are made and one tiny call warms libtorch and the JIT; then
/// <c>/proc/self/clear_refs</c> ← 5 resets the kernel's peak-RSS mark (VmHWM), the baseline
/// is the current RSS, one forward + backward runs, and peak extra = VmHWM − baseline. The times
/// in the tables are measured in this (parent) process, reference and GpuKd alternating run by
/// run (<see cref="Sweep"/>), so that both see the same machine load; the child's own timing
/// (median of up to three runs) is only printed by <c>--peak-one</c>.
/// Freed pages that the allocator keeps count as in use, as they would in training.
/// A reference case whose estimated need exceeds <see cref="ReferenceCapBytes"/> is not run:
/// it is reported as out of memory with its estimate (the machine has 24 GiB).
///
///   dotnet run -c Release --project bench/GpuKd.Bench -- --peak rkd-angle [--csv FILE]   (cases: see Cases, e.g. nst, pkt, fsp)
///   dotnet run -c Release --project bench/GpuKd.Bench -- --peak-one rkd-angle gpukd 256 512
///   GPUKD_BENCH_THREADS=1 dotnet run -c Release --project bench/GpuKd.Bench -- --peak skd-pixelwise-19   (also -21, -150)
/// GPUKD_PEAK_STEADY=1 measures the second call at each shape instead of the first (<see cref="Steady"/>).
/// GPUKD_BENCH_THREADS=n sets libtorch's thread count in the children (on a heavily loaded 2-core machine libtorch's
/// OpenMP regions stall when their threads are descheduled, which penalises many small ops more than a few large ones).
/// </summary>
public static class PeakMemory
{
    internal const long ReferenceCapBytes = 12L << 30;

    internal record Case(string Name, long[] Bs, long[] Ds, Func<Tensor, Tensor, Tensor> Ours, Func<Tensor, Tensor, Tensor> Reference, Func<long, long, long> ReferenceEstimate)
    {
        /// <summary>Student and teacher shapes for (b, D): [b, D] each unless a case says otherwise.</summary>
        public Func<long, long, (long[] S, long[] T)> Shapes { get; init; } = (b, d) => ([b, d], [b, d]);

        /// <summary>The column header of D.</summary>
        public string DName { get; init; } = "D";
    }

    /// <summary>Structured-KD pair-wise maps: student [b, 128, D, D], teacher [b, 512, D, D] (issue 5's grid).</summary>
    internal static (long[] S, long[] T) SkdMaps(long b, long side) => ([b, 128, side, side], [b, 512, side, side]);

    internal static readonly Case[] Cases =
    [
        // Reference: per side b×b×D differences, their normalisation and its gradient, the b³ angles and theirs.
        new("rkd-angle", [64, 128, 256, 512, 1024], [128, 512, 2048],
            (s, t) => gpukd.functional.rkd_angle_loss(s, t), (s, t) => ReferenceOps.RkdAngleLoss(s, t),
            (b, d) => 4 * (5 * b * b * d + 4 * b * b * b)),
        new("rkd-distance", [64, 128, 256, 512, 1024], [128, 512, 2048],
            (s, t) => gpukd.functional.rkd_distance_loss(s, t), (s, t) => ReferenceOps.RkdDistanceLoss(s, t),
            (b, d) => 4 * (12 * b * b)),
        // Issue 4's grid; the references hold a few b×b matrices per side and the b×D gradients.
        new("sp", [32, 64, 128, 256, 512], [64, 2048, 16384, 25088],
            (s, t) => gpukd.functional.sp_loss(s, t), (s, t) => ReferenceLosses.SpLoss(s, t), (b, d) => 4 * (12 * b * b + 2 * b * d)),
        new("cc", [32, 64, 128, 256, 512], [64, 2048, 16384, 25088],
            (s, t) => gpukd.functional.cc_loss(s, t), (s, t) => ReferenceLosses.CcLoss(s, t), (b, d) => 4 * (16 * b * b + 4 * b * d)),
        new("irg-edge", [32, 64, 128, 256, 512], [64, 2048, 16384, 25088],
            (s, t) => gpukd.functional.irg_edge_loss(s, t), (s, t) => ReferenceLosses.IrgEdgeLoss(s, t), (b, d) => 4 * (16 * b * b + 2 * b * d)),
        // Structured-KD pair-wise at full resolution (D = map side, N = D² nodes). The reference holds per image
        // A_S, A_T, their difference and its square (4·N² floats) and in the backward the difference's gradient
        // and A_S's (2·N² more): ≈ 6·B·N² floats, plus the inputs' gradient.
        new("skd-pairwise", [8], [16, 32, 64, 128],
            (s, t) => gpukd.functional.skd_pairwise_loss(s, t, pool: SkdPool.None),
            (s, t) => ReferenceSkd.PairwiseLoss(s, t, pool: SkdPool.None),
            (b, side) => 4 * (6 * b * side * side * side * side + b * 128 * side * side)) { Shapes = SkdMaps, DName = "H=W" },
        // The authors' default: max-pooled to 2×2 or 3×3 nodes (65 = the authors' map size).
        new("skd-pairwise-pooled", [8], [16, 32, 64, 65, 128],
            (s, t) => gpukd.functional.skd_pairwise_loss(s, t),
            (s, t) => ReferenceSkd.PairwiseLoss(s, t),
            (b, side) => 4 * (2 * b * 640 * side * side)) { Shapes = SkdMaps, DName = "H=W" },
        // Structured-KD pixel-wise on NCHW logits [B, K, H, W] (student and teacher), K = 19 (Cityscapes), 21 (VOC),
        // 150 (ADE20K): skd-pixelwise-19, -21, -150. The reference holds z/T, both log-softmaxes, p_T, the product and
        // in the backward the product's and the log-softmax's gradients: ≈ 7·B·K·H·W floats.
        SkdPixelwiseCase(19), SkdPixelwiseCase(21), SkdPixelwiseCase(150),
        // Issue 16. ICKD, B = 32 images of [256, H, W] both sides. The reference (torchdistill ChSimLoss) holds per side the
        // Gram and its normalised copy, the difference and its square (B·C² each), and in the backward their gradients
        // and the bmm's two operand gradients.
        new("ickd", [32], [8, 16, 32],
            (s, t) => gpukd.functional.ickd_loss(s, t), (s, t) => ReferenceChannelLosses.IckdLoss(s, t),
            (b, side) => 4 * (10 * b * 256 * 256 + 2 * b * 256 * side * side)) { Shapes = (b, side) => ([b, 256, side, side], [b, 256, side, side]), DName = "H=W" },
        // NST, B = 32, C = 128 both sides. The reference's poly_kernel forms a [B, C, C, H·W] product three times (tt, ss,
        // st), all alive until the scope ends, and in the backward the gradients of the two that carry one.
        new("nst", [32], [8, 16, 32],
            (s, t) => gpukd.functional.nst_loss(s, t), (s, t) => ReferenceChannelLosses.NstLoss(s, t),
            (b, side) => 4 * (5 * b * 128 * 128 * side * side)) { Shapes = (b, side) => ([b, 128, side, side], [b, 128, side, side]), DName = "H=W" },
        // FSP (issue 16's target): two layers per side, bot [B, 64, H, H] → top [B, 128, H/2, H/2] (bot pooled to H/2), B = 32.
        // Both layers of a side travel as one [B·96, H²] tensor (rows 0 … 64B: bot, the rest: top; contiguous views), so the
        // harness's (student, teacher) pair carries them. The reference forms the [B, 128, 64, (H/2)²] product and, in the
        // backward, its gradient and the gradients of both broadcast operands (≈ 4 such tensors).
        new("fsp", [32], [16, 32, 64],
            (s, t) => gpukd.functional.fsp_loss(FspLayers(s), FspLayers(t)), (s, t) => ReferenceChannelLosses.FspLoss(FspLayers(s), FspLayers(t)),
            (b, side) => 4 * (4 * b * 128 * 64 * (side / 2) * (side / 2))) { Shapes = (b, side) => ([b * 96, side * side], [b * 96, side * side]), DName = "H=W" },
        // PKT, D = 512: the reference holds per side the normalised copy, S, its scaled and row-normalised copies, and
        // the KL's ratio, log and product (b×b each), and their gradients.
        new("pkt", [128, 256, 512], [512],
            (s, t) => gpukd.functional.pkt_loss(s, t), (s, t) => ReferenceChannelLosses.PktLoss(s, t), (b, d) => 4 * (16 * b * b + 4 * b * d)),
        // DIST on logits [b, K] both sides (K = classes: 100 CIFAR-100, 1000 ImageNet). The reference (torchdistill DISTLoss)
        // holds per side z/τ, the softmax, its row-centred copy and, on the transposes, the column-centred copy, the
        // cosine_similarity's normalised copies and products (≈ 8·b·K per side), and in the backward their gradients.
        new("dist", [128, 256, 512], [100, 1000],
            (s, t) => gpukd.functional.dist_loss(s, t), (s, t) => ReferenceChannelLosses.DistLoss(s, t), (b, k) => 4 * 24 * b * k) { DName = "K" },
    ];

    /// <summary>FSP's two layers of one side from their [B·96, H²] carrier: bot [B, 64, H, H], top [B, 128, H/2, H/2] (views).</summary>
    static Tensor[] FspLayers(Tensor x)
    {
        long b = x.shape[0] / 96, side = (long)Math.Round(Math.Sqrt(x.shape[1]));
        return [x.narrow(0, 0, 64 * b).view(b, 64, side, side), x.narrow(0, 64 * b, 32 * b).view(b, 128, side / 2, side / 2)];
    }

    /// <summary>Pixel-wise logits: student and teacher [b, K, side, side] (the issue's grid: B ∈ {4, 8, 16}, maps 65 … 129).</summary>
    static Case SkdPixelwiseCase(long k) => new($"skd-pixelwise-{k}", [4, 8, 16], [65, 97, 129],
        (s, t) => gpukd.functional.skd_pixelwise_loss(s, t), (s, t) => ReferenceSkd.PixelwiseLoss(s, t),
        (b, side) => 4 * 7 * b * k * side * side) { Shapes = (b, side) => ([b, k, side, side], [b, k, side, side]), DName = "H=W" };

    /// <summary>GPUKD_PEAK_STEADY=1: measure the second call at the case's shape (steady state of a training loop) instead of
    /// the first (cold: includes one-time buffers of MKL and the allocator). Children inherit it.</summary>
    internal static bool Steady => Environment.GetEnvironmentVariable("GPUKD_PEAK_STEADY") == "1";

    public static int Run(string[] args)
    {
        if (args[0] == "--peak-one") return RunOne(args[1], args[2], long.Parse(args[3]), long.Parse(args[4]));
        var c = Cases.Single(x => x.Name == args[1]);
        string? csv = args.Length > 3 && args[2] == "--csv" ? args[3] : null;
        var rows = new List<string> { "case,b,D,impl,ms,peak_extra_bytes,note" };
        gpukd.backend = KdBackend.Cpu;
        Measurement.ApplyThreadSetting();
        Console.WriteLine($"{c.Name}: forward+backward, float32, CPU backend; time: reference and GpuKd alternating in one process (medians); peak extra RSS: each case in a fresh process, {(Steady ? "steady state (second call at the shape)" : "first call at the shape")}; libtorch threads: {Environment.GetEnvironmentVariable("GPUKD_BENCH_THREADS") ?? "default"}");
        Console.WriteLine($"| b | {c.DName} | reference ms | GpuKd ms | speed-up | reference peak extra | GpuKd peak extra | memory ratio |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var b in c.Bs)
        foreach (var d in c.Ds)
        {
            var m = Measurement.Take(c, b, d);
            static string Ms(Sweep.Stats? t) => t?.Median.ToString("F3", CultureInfo.InvariantCulture) ?? "";
            rows.Add($"{c.Name},{b},{d},gpukd,{(m.OursPeak is null ? "" : Ms(m.Ours))},{m.OursPeak},");
            rows.Add($"{c.Name},{b},{d},reference,{(m.ReferencePeak is null ? "" : Ms(m.Reference))},{m.ReferencePeak},{(m.ReferencePeak is null ? $"not run: estimated {m.Estimate} bytes" : "")}");
            Console.WriteLine($"| {b} | {d} | {m.Cells()} |");
        }
        if (csv is not null) File.WriteAllLines(csv, rows);
        return 0;
    }

    internal static string Bytes(long n) => n >= 1L << 30 ? $"{n / (double)(1L << 30):F2} GiB" : n >= 1L << 20 ? $"{n / (double)(1L << 20):F1} MiB" : $"{n / 1024.0:F0} KiB";

    internal static (double Ms, long Peak)? Child(string name, string impl, long b, long d)
    {
        var self = Environment.ProcessPath!;
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(PeakMemory).Assembly.Location);
        foreach (var a in new[] { "--peak-one", name, impl, b.ToString(), d.ToString() }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith("RESULT "));
        if (p.ExitCode != 0 || line is null) return null;
        var parts = line.Split(' ');
        return (double.Parse(parts[1], CultureInfo.InvariantCulture), long.Parse(parts[2]));
    }

    static int RunOne(string name, string impl, long b, long d)
    {
        var c = Cases.Single(x => x.Name == name);
        var f = impl == "gpukd" ? c.Ours : c.Reference;
        gpukd.backend = KdBackend.Cpu;
        Measurement.ApplyThreadSetting();
        var (sShape, tShape) = c.Shapes(b, d);
        var student = randn(sShape, generator: new Generator(42));
        var teacher = randn(tShape, generator: new Generator(43));
        var (wS, wT) = c.Shapes(2, 4);
        using (NewDisposeScope()) f(randn(wS).requires_grad_(true), randn(wT)).backward();   // warm-up
        if (Steady)
        {
            // Steady state: one full step at this shape first, so what a training loop allocates once (MKL's packing
            // buffers, the allocator's arenas, JIT'd paths) is in the baseline and the peak is the per-step working set.
            using (NewDisposeScope()) f(student.detach().requires_grad_(true), teacher).backward();
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        File.WriteAllText("/proc/self/clear_refs", "5");
        long baseline = Status("VmRSS");
        var sw = Stopwatch.StartNew();
        using (NewDisposeScope()) f(student.detach().requires_grad_(true), teacher).backward();
        double first = sw.Elapsed.TotalMilliseconds;
        long peak = Status("VmHWM") - baseline;
        // Time: the median of up to 3 more runs (the first pays for page faults and thread start-up),
        // fewer when one run takes over 5 s.
        var times = new List<double> { first };
        for (int i = 0; i < 3 && first < 5000; i++)
        {
            sw.Restart();
            using (NewDisposeScope()) f(student.detach().requires_grad_(true), teacher).backward();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        if (times.Count > 1) times.RemoveAt(0);
        times.Sort();
        double ms = times[times.Count / 2];
        Console.WriteLine(FormattableString.Invariant($"RESULT {ms:F3} {Math.Max(peak, 0)}"));
        return 0;
    }

    static long Status(string key)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key + ":"))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException($"{key} not in /proc/self/status");
    }
}
