namespace GpuKd.Data;

/// <summary>
/// The class-uniform (CUR) and superclass-uniform (SUR) batch sampling of correlation congruence
/// (Peng et al.): every batch draws <see cref="ClassesPerBatch"/> distinct groups uniformly at random
/// and <see cref="SamplesPerClass"/> samples from each, so every batch holds k·n indices with many
/// intra-class pairs for the correlation to see. Groups are the classes (CUR) or, given a class →
/// superclass map, the superclasses (SUR). Deterministic: the batches of an epoch depend only on the
/// seed and the epoch number.
/// </summary>
/// <remarks>
/// Within a group, samples are drawn without replacement when the group holds at least n samples, with
/// replacement otherwise. Batches are index arrays into the dataset (for <c>index_select</c> or a data
/// loader). Cost per batch O(k·n) after an O(N) set-up; the RNG is SplitMix64 (stable across runtimes).
/// </remarks>
public sealed class ClassUniformBatchSampler
{
    readonly long[][] _groups;
    readonly ulong _seed;

    /// <summary>Creates the sampler.</summary>
    /// <param name="labels">Class label of each dataset sample (any non-negative ints).</param>
    /// <param name="classesPerBatch">k ≥ 1: distinct classes (or superclasses) per batch; at most the number of non-empty groups.</param>
    /// <param name="samplesPerClass">n ≥ 1: samples drawn per class.</param>
    /// <param name="seed">Seed of every epoch's draw.</param>
    /// <param name="superclassOf">Optional class → superclass map (SUR): superclassOf[c] is the superclass of class c.</param>
    /// <param name="batchesPerEpoch">Batches per epoch (default ⌊N / (k·n)⌋, at least 1).</param>
    public ClassUniformBatchSampler(IReadOnlyList<int> labels, int classesPerBatch, int samplesPerClass, int seed = 0,
        IReadOnlyList<int>? superclassOf = null, int? batchesPerEpoch = null)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count == 0) throw new ArgumentException("labels must not be empty.", nameof(labels));
        if (samplesPerClass < 1) throw new ArgumentException($"samplesPerClass must be ≥ 1, got {samplesPerClass}.", nameof(samplesPerClass));
        var byGroup = new SortedDictionary<int, List<long>>();
        for (int i = 0; i < labels.Count; i++)
        {
            int c = labels[i];
            if (c < 0) throw new ArgumentException($"labels must be ≥ 0, got {c} at {i}.", nameof(labels));
            int g = c;
            if (superclassOf is not null)
            {
                if (c >= superclassOf.Count) throw new ArgumentException($"superclassOf has no entry for class {c}.", nameof(superclassOf));
                g = superclassOf[c];
            }
            if (!byGroup.TryGetValue(g, out var list)) byGroup[g] = list = [];
            list.Add(i);
        }
        _groups = [.. byGroup.Values.Select(l => l.ToArray())];
        if (classesPerBatch < 1 || classesPerBatch > _groups.Length)
            throw new ArgumentException($"classesPerBatch must be in [1, {_groups.Length}] (the non-empty {(superclassOf is null ? "classes" : "superclasses")}), got {classesPerBatch}.", nameof(classesPerBatch));
        ClassesPerBatch = classesPerBatch;
        SamplesPerClass = samplesPerClass;
        BatchesPerEpoch = batchesPerEpoch ?? Math.Max(1, labels.Count / BatchSize);
        if (BatchesPerEpoch < 1) throw new ArgumentException($"batchesPerEpoch must be ≥ 1, got {batchesPerEpoch}.", nameof(batchesPerEpoch));
        _seed = (ulong)(uint)seed;
    }

    /// <summary>k: groups per batch.</summary>
    public int ClassesPerBatch { get; }

    /// <summary>n: samples per group.</summary>
    public int SamplesPerClass { get; }

    /// <summary>k·n.</summary>
    public int BatchSize => ClassesPerBatch * SamplesPerClass;

    /// <summary>Batches yielded by <see cref="Epoch"/>.</summary>
    public int BatchesPerEpoch { get; }

    /// <summary>The batches of epoch <paramref name="epoch"/>: each k·n dataset indices, grouped by class
    /// (n consecutive indices per class).</summary>
    public IEnumerable<long[]> Epoch(int epoch)
    {
        var rng = new SplitMix64(_seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)epoch);
        var order = Enumerable.Range(0, _groups.Length).ToArray();
        for (int batch = 0; batch < BatchesPerEpoch; batch++)
        {
            var indices = new long[BatchSize];
            // k distinct groups: a partial Fisher–Yates shuffle of the group ids.
            for (int g = 0; g < ClassesPerBatch; g++)
            {
                int pick = g + rng.Below(order.Length - g);
                (order[g], order[pick]) = (order[pick], order[g]);
                var members = _groups[order[g]];
                if (members.Length >= SamplesPerClass)
                {
                    var pool = (long[])members.Clone();
                    for (int s = 0; s < SamplesPerClass; s++)
                    {
                        int m = s + rng.Below(pool.Length - s);
                        (pool[s], pool[m]) = (pool[m], pool[s]);
                        indices[g * SamplesPerClass + s] = pool[s];
                    }
                }
                else
                {
                    for (int s = 0; s < SamplesPerClass; s++) indices[g * SamplesPerClass + s] = members[rng.Below(members.Length)];
                }
            }
            yield return indices;
        }
    }

    /// <summary>SplitMix64: a small, fast generator whose stream is fixed by its seed on every runtime.</summary>
    struct SplitMix64(ulong state)
    {
        ulong _state = state;

        ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        /// <summary>Uniform in [0, n) (multiply-shift; the bias is below 2⁻³² for any dataset size).</summary>
        public int Below(int n) => (int)((UInt128)Next() * (ulong)n >> 64);
    }
}
