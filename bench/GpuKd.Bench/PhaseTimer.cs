using System.Diagnostics;

namespace GpuKd.Bench;

/// <summary>The probes' timer: wall time of each named phase per repetition (and the gen-0 collections that fell inside
/// it), printed as median / min / mean after dropping the first <c>skip</c> repetitions.</summary>
public sealed class PhaseTimer
{
    readonly Dictionary<string, List<double>> _times = [];
    readonly Dictionary<string, int> _collections = [];

    public void Time(string name, Action phase)
    {
        int gen0 = GC.CollectionCount(0);
        var sw = Stopwatch.StartNew();
        phase();
        (_times.TryGetValue(name, out var l) ? l : _times[name] = []).Add(sw.Elapsed.TotalMilliseconds);
        _collections[name] = _collections.GetValueOrDefault(name) + GC.CollectionCount(0) - gen0;
    }

    public void Print(int skip)
    {
        foreach (var (name, l) in _times)
        {
            var kept = l.Skip(skip).Order().ToList();
            Console.WriteLine($"{name,-34} median {kept[kept.Count / 2]:F3} ms   min {kept[0]:F3} ms   mean {kept.Average():F3} ms   gen-0 GCs {_collections[name]}");
        }
    }
}
