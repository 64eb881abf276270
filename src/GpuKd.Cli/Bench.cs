using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Cli;

/// <summary>
/// <c>gpukd bench [--quick]</c>: GpuKd (CPU backend) beside the ReferenceOps composition on
/// identical float32 inputs, forward + backward, median wall time of several runs after
/// warm-up, with each side's peak extra memory estimate. For careful numbers use the
/// BenchmarkDotNet project in bench/GpuKd.Bench.
/// </summary>
internal static class Bench
{
    sealed record Settings(long[] Batches, long[] Dims, long[] AngleBatches, long AngleDim, int Warmup, int Repeats, double RowBudgetMs);

    static readonly Settings Quick = new([64, 256], [128, 512], [64, 128], 128, Warmup: 2, Repeats: 7, RowBudgetMs: 1500);
    static readonly Settings Full = new([64, 256, 512], [128, 512, 2048], [64, 128, 256], 128, Warmup: 3, Repeats: 15, RowBudgetMs: 3000);

    public static void Run(TextWriter w, bool quick, IReadOnlyList<string>? only = null)
    {
        var s = quick ? Quick : Full;
        // GPUKD_BENCH_THREADS=n: libtorch's threads (and so the fused ops' CPU loops, which follow them) set to n first.
        if (int.TryParse(Environment.GetEnvironmentVariable("GPUKD_BENCH_THREADS"), out int threads) && threads > 0) torch.set_num_threads(threads);
        w.WriteLine($"gpukd bench{(quick ? " --quick" : "")}: forward+backward, float32, CPU tensors, GpuKd backend Cpu vs ReferenceOps");
        w.WriteLine($"  median of up to {s.Repeats} runs after {s.Warmup} warm-up runs, libtorch threads: {torch.get_num_threads()}");
        w.WriteLine("  absolute times are noisy on shared machines; compare the two columns of one row (fixed teachers are drawn once, outside the timing)");
        w.WriteLine("  memory: estimated peak extra bytes beyond the input and its gradient (output included);");
        w.WriteLine("  GpuKd from the remarks in functional.cs, the reference from the tensors its composition materialises");
        w.WriteLine();

        var table = new Table("op", "shape", "ref ms", "GpuKd ms", "speed-up", "ref mem", "GpuKd mem", "mem ratio");
        table.RightAligned.UnionWith([2, 3, 4, 5, 6, 7]);
        var errors = new SortedDictionary<string, List<string>>(); // message -> op names
        var clock = Stopwatch.StartNew();

        var cases = new List<(OpVariant Op, long[] Shape)>();
        foreach (var op in new[] { Ops.Gram, Ops.GramNormalized, Ops.Cosine, Ops.Pdist })
            foreach (var b in s.Batches)
                foreach (var d in s.Dims)
                    cases.Add((op, [b, d]));
        foreach (var b in s.AngleBatches) cases.Add((Ops.Angles, [b, s.AngleDim]));
        foreach (var b in s.Batches) cases.Add((Ops.RkdDistance, [b, s.Dims[^1]]));
        foreach (var b in s.AngleBatches) cases.Add((Ops.RkdAngle, [b, s.Dims[^1]]));
        foreach (var op in new[] { Ops.Sp, Ops.Cc, Ops.IrgEdge })
            foreach (var b in s.Batches)
                cases.Add((op, [b, s.Dims[^1]]));
        // Structured KD on [B, C, H, W] maps (teacher C + 3 channels): full-resolution pair-wise, and pixel-wise logits.
        cases.Add((Ops.SkdPairwiseFull, [4, Ops.SkdBenchChannels, 24, 24]));
        cases.Add((Ops.SkdPixelwise, [4, 19, 65, 65]));
        if (only is { Count: > 0 }) cases.RemoveAll(c => !only.Any(o => c.Op.Name.StartsWith(o, StringComparison.OrdinalIgnoreCase)));

        using (gpukd.use_backend(KdBackend.Cpu))
        {
            WarmUpProcess(cases.Select(c => c.Op).Distinct().Where(o => !o.Name.StartsWith("skd")));
            foreach (var (op, shape) in cases)
            {
                using var scope = torch.NewDisposeScope();
                var gen = new torch.Generator(42);
                var x = torch.randn(shape, dtype: ScalarType.Float32, generator: gen);
                long b = shape[0], d = shape.Skip(1).Aggregate(1L, (p, q) => p * q);

                var (refMs, kdMs, refError, kdError) = TimePair(op, x, s);
                if (refError is not null) Note(errors, "reference", op.Name, refError);
                if (kdError is not null) Note(errors, "GpuKd", op.Name, kdError);

                double refMem = op.ReferenceExtra(b, d) * sizeof(float), kdMem = op.GpuKdExtra(b, d) * sizeof(float);
                table.Add(op.Name, Fmt.Shape(shape),
                    refMs is double r ? Fmt.Ms(r) : "error",
                    kdMs is double k ? Fmt.Ms(k) : "n/a",
                    refMs is double r2 && kdMs is double k2 ? Fmt.Ratio(r2 / k2) : "-",
                    Fmt.Bytes(refMem), Fmt.Bytes(kdMem), Fmt.Ratio(refMem / kdMem));
            }
        }

        table.Print(w);
        w.WriteLine();
        foreach (var (message, names) in errors) w.WriteLine($"  {string.Join(", ", names)}: {Fmt.Clip(message, 120)}");
        if (errors.Count > 0) w.WriteLine();
        w.WriteLine($"bench: {cases.Count} rows in {clock.Elapsed.TotalSeconds:0.0} s; speed-up and mem ratio = reference / GpuKd (above 1: GpuKd wins)");
    }

    static void Note(SortedDictionary<string, List<string>> errors, string side, string op, string message)
    {
        if (!errors.TryGetValue(message, out var names)) errors[message] = names = [];
        var name = $"{side} {op}";
        if (!names.Contains(name)) names.Add(name);
    }

    /// <summary>First calls pay for JIT, libtorch's thread pool and kernel selection: run every
    /// op once, small, before timing anything.</summary>
    static void WarmUpProcess(IEnumerable<OpVariant> ops)
    {
        var s = new Settings([], [], [], 0, Warmup: 3, Repeats: 3, RowBudgetMs: 100);
        using var scope = torch.NewDisposeScope();
        var x = torch.randn([16, 32], dtype: ScalarType.Float32);
        foreach (var op in ops) TimePair(op, x, s);
    }

    /// <summary>One implementation under timing: a forward+backward on a fresh leaf copy of x.</summary>
    sealed class Side(Func<Tensor, Tensor> op, Tensor x) : IDisposable
    {
        Tensor? _upstream;
        public readonly List<double> Times = [];
        public string? Error { get; private set; }
        public double LastMs { get; private set; }

        public void Once(bool record)
        {
            if (Error is not null) return;
            try
            {
                var sw = Stopwatch.StartNew();
                using (var scope = torch.NewDisposeScope())
                {
                    var leaf = x.detach().requires_grad_(true);
                    var y = op(leaf);
                    // The same fixed upstream gradient for both implementations (seeded, output-shaped).
                    _upstream ??= torch.randn(y.shape, dtype: y.dtype, generator: new torch.Generator(7)).DetachFromDisposeScope();
                    y.backward([_upstream]);
                }
                LastMs = sw.Elapsed.TotalMilliseconds;
                if (record) Times.Add(LastMs);
            }
            catch (Exception e)
            {
                Error = Fmt.Error(e);
            }
        }

        public double? Median()
        {
            if (Error is not null || Times.Count == 0) return null;
            var t = Times.Order().ToArray();
            int n = t.Length;
            return n % 2 == 1 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
        }

        public void Dispose() => _upstream?.Dispose();
    }

    /// <summary>Median milliseconds of one forward+backward of the reference and of GpuKd on the
    /// same x, the two interleaved run by run so that machine noise hits both alike; null (and
    /// the error) for a side that throws.</summary>
    static (double? Ref, double? Kd, string? RefError, string? KdError) TimePair(OpVariant op, Tensor x, Settings s)
    {
        using var reference = new Side(op.Reference, x);
        using var kd = new Side(op.GpuKd, x);
        for (int i = 0; i < s.Warmup; i++) { reference.Once(false); kd.Once(false); }

        // Fewer repeats for slow rows, so that the whole table stays within its time budget.
        double perRun = (reference.Error is null ? reference.LastMs : 0) + (kd.Error is null ? kd.LastMs : 0);
        int repeats = (int)Math.Clamp(s.RowBudgetMs / Math.Max(perRun, 1e-3), 3, s.Repeats);
        for (int i = 0; i < repeats; i++) { reference.Once(true); kd.Once(true); }
        return (reference.Median(), kd.Median(), reference.Error, kd.Error);
    }
}
