namespace GpuKd.Kernels.Cpu;

/// <summary>
/// Parallel loops that stay on the calling thread when the work is small. Measured on the
/// 2-core machine: right after a libtorch GEMM, libtorch's OpenMP workers still spin, and a
/// <c>Parallel.For</c> over a 256×256 epilogue took 1.9 ms against 0.15 ms alone and
/// 0.17 ms sequential. Below the threshold the loop runs sequentially (each index is still
/// one owner, so results are the same either way).
/// Parallel loops run on libtorch's own OpenMP team where it was found (<see cref="OpenMpTeam"/>: the spinning
/// workers take the loop at once), else on the .NET thread pool.
/// Kernel bodies are marked AggressiveOptimization: tier-0 code of generic-math loops is
/// many times slower, and a training step's kernels should be fast from the first call.
/// </summary>
internal static class CpuParallel
{
    /// <summary>Scalar operations below which a loop runs on the calling thread.</summary>
    public const long SequentialBelow = 1L << 22;

    static readonly AsyncLocal<int?> ForcedDegree = new();

    /// <summary>Runs body(0..count−1), in parallel only when count·workPerItem is large; on at most
    /// <paramref name="maxDegree"/> threads when it is positive (a caller passes libtorch's thread count, so
    /// that <c>torch.set_num_threads</c> bounds the kernel too; a test's <see cref="Force"/> overrides it).</summary>
    public static void For(int count, long workPerItem, Action<int> body, int maxDegree = -1)
    {
        int? forced = ForcedDegree.Value;
        int degree = forced ?? (maxDegree > 0 ? maxDegree : -1);
        if (forced is null ? (long)count * Math.Max(1, workPerItem) < SequentialBelow || count == 1 || maxDegree == 1 : forced <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        if (OpenMpTeam.Available) OpenMpTeam.For(count, body, degree);
        else Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = degree }, body);
    }

    /// <summary>
    /// Tests only: until disposed, every loop of the current flow runs on <paramref name="degree"/> threads
    /// whatever its size (1 = sequential), so that determinism across thread counts can be checked at
    /// test sizes (issue 8). Results must not change: each index has one owner.
    /// </summary>
    internal static IDisposable Force(int degree)
    {
        var previous = ForcedDegree.Value;
        ForcedDegree.Value = degree;
        return new Restore(() => ForcedDegree.Value = previous);
    }

    sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }
}
