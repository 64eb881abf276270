using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Device scratch buffers, pooled by power-of-two byte size so that a training loop does
/// not allocate device memory every step. Rented buffers go back on dispose; the pool is
/// freed with its device.
/// </summary>
public sealed class ScratchPool : IDisposable
{
    readonly Accelerator _acc;
    readonly ConcurrentDictionary<int, ConcurrentBag<MemoryBuffer1D<byte, Stride1D.Dense>>> _free = new();
    int _disposed;
    long _allocatedBytes;

    internal ScratchPool(Accelerator acc) => _acc = acc;

    /// <summary>Bytes currently held by the pool (free buffers only).</summary>
    public long PooledBytes => _free.Values.Sum(bag => bag.Sum(b => b.LengthInBytes));

    /// <summary>Device bytes this pool has allocated and not freed (rented and free buffers): flat in a steady
    /// training loop once every size has been seen (the soak test's leak check).</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocatedBytes);

    /// <summary>A buffer of at least <paramref name="count"/> elements of <typeparamref name="T"/>.</summary>
    public Lease<T> Rent<T>(long count) where T : unmanaged
    {
        long bytes = Math.Max(1, count) * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        int bucket = 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(bytes - 1));
        var bag = _free.GetOrAdd(bucket, _ => new());
        if (!bag.TryTake(out var buffer))
        {
            buffer = _acc.Allocate1D<byte>(1L << bucket);
            Interlocked.Add(ref _allocatedBytes, buffer.LengthInBytes);
        }
        return new Lease<T>(this, bucket, buffer, count);
    }

    void Return(int bucket, MemoryBuffer1D<byte, Stride1D.Dense> buffer)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            Interlocked.Add(ref _allocatedBytes, -buffer.LengthInBytes);
            buffer.Dispose();
            return;
        }
        _free.GetOrAdd(bucket, _ => new()).Add(buffer);
    }

    /// <summary>A rented buffer viewed as <typeparamref name="T"/>; dispose to give it back.</summary>
    public readonly struct Lease<T> : IDisposable where T : unmanaged
    {
        readonly ScratchPool _pool;
        readonly int _bucket;
        readonly MemoryBuffer1D<byte, Stride1D.Dense> _buffer;

        internal Lease(ScratchPool pool, int bucket, MemoryBuffer1D<byte, Stride1D.Dense> buffer, long count)
        {
            _pool = pool;
            _bucket = bucket;
            _buffer = buffer;
            View = buffer.View.AsContiguous().Cast<T>().SubView(0, count);
        }

        /// <summary>The first count elements.</summary>
        public ArrayView<T> View { get; }

        /// <inheritdoc />
        public void Dispose() => _pool.Return(_bucket, _buffer);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var bag in _free.Values)
            while (bag.TryTake(out var b))
            {
                Interlocked.Add(ref _allocatedBytes, -b.LengthInBytes);
                b.Dispose();
            }
    }
}
