using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace GpuKd.Kernels.Cpu;

/// <summary>
/// Parallel loops run on libtorch's own OpenMP team (libgomp's <c>GOMP_parallel</c>), where the TorchSharp layer found
/// it (<see cref="Resolver"/>). Why: after each parallel libtorch op, libgomp's workers busy-wait for the next region
/// (up to ≈ 300 000 spins, milliseconds); a .NET thread-pool loop started in that window shares each core with a
/// spinning worker and gains nothing from its extra threads. Measured on the 2-core machine (<c>--skd-pixel-probe</c>,
/// the pixel-wise pass at [4, 19, 65, 65] right after a log-softmax): sequential 0.88–0.97 ms, <c>Parallel.For</c>
/// 0.87–0.93 ms, this 0.48–0.54 ms. Handing the loop to the spinning team itself uses those cores at once and keeps
/// libtorch's thread count as the one budget. Indices are taken from a shared counter: which thread runs an index
/// varies, each index still has one owner, so results do not depend on it. Exceptions in the body are caught on the
/// worker (none may cross the native frame), the loop stops taking indices, and the first is rethrown to the caller.
/// </summary>
internal static unsafe class OpenMpTeam
{
    /// <summary>Set by the TorchSharp layer: returns libgomp's <c>GOMP_parallel</c> export of the loaded libtorch, or 0
    /// (none found, or <c>GPUKD_CPU_THREADS=dotnet</c>): loops then use <see cref="Parallel.For(int, int, Action{int})"/>.</summary>
    public static Func<nint>? Resolver
    {
        get => _resolver;
        set { lock (Sync) { _resolver = value; _parallel = null; } }
    }

    static readonly object Sync = new();
    static Func<nint>? _resolver;
    static nint? _parallel;

    /// <summary>The export, resolved once a resolver is set (until then, none: the .NET thread pool).</summary>
    static nint Parallel
    {
        get
        {
            if (_parallel is { } p) return p;
            lock (Sync)
            {
                if (_resolver is null) return 0;
                return (nint)(_parallel ??= _resolver());
            }
        }
    }

    /// <summary>True when loops run on libtorch's OpenMP team.</summary>
    public static bool Available => Parallel != 0;

    sealed class Loop(int count, Action<int> body)
    {
        int _next = -1;
        volatile bool _stop;
        public ExceptionDispatchInfo? Error;

        public void Drain()
        {
            int i;
            while (!_stop && (i = Interlocked.Increment(ref _next)) < count)
            {
                try { body(i); }
                catch (Exception e)
                {
                    _stop = true;
                    Interlocked.CompareExchange(ref Error, ExceptionDispatchInfo.Capture(e), null);
                }
            }
        }
    }

    [UnmanagedCallersOnly]
    static void Region(nint state) => ((Loop)GCHandle.FromIntPtr(state).Target!).Drain();

    /// <summary>body(0..count−1) on a team of <paramref name="threads"/> (0: libtorch's thread count, the OpenMP
    /// default of the calling thread); returns when every index is done.</summary>
    public static void For(int count, Action<int> body, int threads)
    {
        var loop = new Loop(count, body);
        var handle = GCHandle.Alloc(loop);
        try
        {
            ((delegate* unmanaged<delegate* unmanaged<nint, void>, nint, uint, uint, void>)Parallel)(
                &Region, GCHandle.ToIntPtr(handle), (uint)Math.Max(threads, 0), 0);
        }
        finally { handle.Free(); }
        loop.Error?.Throw();
    }
}
