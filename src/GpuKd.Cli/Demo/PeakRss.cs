namespace GpuKd.Cli.Demo;

/// <summary>
/// Process peak resident memory, as bench/GpuKd.Bench/PeakMemory.cs measures it: writing "5" to
/// /proc/self/clear_refs resets the kernel's peak mark (VmHWM) to the current RSS; the growth of
/// VmHWM over the RSS at the reset is the peak extra memory of what ran in between (native libtorch
/// tensors included; pages the allocators keep count as in use). Linux only; elsewhere null.
/// </summary>
internal sealed class PeakRss
{
    readonly long _baseline;
    readonly bool _ok;

    PeakRss(long baseline, bool ok) => (_baseline, _ok) = (baseline, ok);

    /// <summary>Resets the peak mark and records the current RSS.</summary>
    public static PeakRss Start()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return new PeakRss(Status("VmRSS") ?? 0, Status("VmHWM") is not null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            return new PeakRss(0, false);
        }
    }

    /// <summary>Peak RSS growth since <see cref="Start"/>, bytes; null where it cannot be read.</summary>
    public long? PeakGrowth() => _ok && Status("VmHWM") is { } hwm ? Math.Max(hwm - _baseline, 0) : null;

    static long? Status(string key)
    {
        if (!File.Exists("/proc/self/status")) return null;
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(key + ":"))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return null;
    }

    public static string Format(long? bytes) => bytes switch
    {
        null => "n/a",
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        _ => $"{bytes / (double)(1L << 20):F1} MiB",
    };
}
