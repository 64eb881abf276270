namespace GpuKd.Bench;

/// <summary>
/// One measured case of the peak grid and the sweeps: times of both sides (alternating, <see cref="Sweep.Time"/>)
/// and the peak extra memory of each side in a fresh child process (<see cref="PeakMemory.Child"/>). A reference whose
/// estimated need exceeds the cap is not run: its time and peak are null and <see cref="Estimate"/> stands in.
/// </summary>
internal sealed record Measurement(Sweep.Stats Ours, Sweep.Stats? Reference, long? OursPeak, long? ReferencePeak, long Estimate)
{
    public static Measurement Take(PeakMemory.Case c, long b, long d)
    {
        long estimate = c.ReferenceEstimate(b, d);
        bool referenceRuns = estimate <= PeakMemory.ReferenceCapBytes;
        var (ours, reference) = Sweep.Time(c, b, d, referenceRuns);
        var oursPeak = PeakMemory.Child(c.Name, "gpukd", b, d)?.Peak;
        var refPeak = referenceRuns ? PeakMemory.Child(c.Name, "reference", b, d)?.Peak : null;
        return new(ours, reference, oursPeak, refPeak, estimate);
    }

    /// <summary>GPUKD_BENCH_THREADS=n: libtorch's thread count for this process (every timing mode honours it).</summary>
    public static void ApplyThreadSetting()
    {
        if (Environment.GetEnvironmentVariable("GPUKD_BENCH_THREADS") is string threads) TorchSharp.torch.set_num_threads(int.Parse(threads));
    }

    /// <summary>The markdown cells: reference ms | GpuKd ms | speed-up | reference peak | GpuKd peak | memory ratio.</summary>
    public string Cells()
    {
        string refMs = Reference is { } r ? $"{r.Median:F2}" : "—";
        string speed = Reference is { } r2 ? $"{r2.Median / Ours.Median:F2}×" : "—";
        string refMem = ReferencePeak is { } rp ? PeakMemory.Bytes(rp) : $"OOM (needs ≈{PeakMemory.Bytes(Estimate)})";
        string oursMem = OursPeak is { } op ? PeakMemory.Bytes(op) : "failed";
        string memRatio = OursPeak is { } o
            ? ReferencePeak is { } rp2 ? $"{(double)rp2 / Math.Max(o, 1):F1}×" : $"≥{(double)Estimate / Math.Max(o, 1):F0}× (est.)"
            : "—";
        return $"{refMs} | {Ours.Median:F2} | {speed} | {refMem} | {oursMem} | {memRatio}";
    }
}
