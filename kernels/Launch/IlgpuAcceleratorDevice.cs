using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;

namespace GpuKd.Kernels.Launch;

/// <summary>
/// Runs programs on an ILGPU accelerator — in practice ILGPU's CPU accelerator (a simulator), where a
/// <see cref="Buf{T}"/> is host memory and is wrapped in place (<c>CPUMemoryBuffer.Create</c>, no copy). This
/// is how CI runs every program without a GPU. Kernels load once per <see cref="KernelId"/>. A sequence holds
/// the device's gate (ILGPU streams are not for concurrent use), waits for its kernels at the end and frees its
/// temporaries; <see cref="Alloc{T}"/> outside a sequence allocates memory that lives until the device is
/// disposed (the harness's buffers). On an accelerator other than the CPU (only the kernels-only harness makes
/// one: ILGPU's CUDA accelerator has a context of its own, so the library never does, DESIGN §6) a buffer must lie
/// in memory this device allocated or was given (<see cref="Register"/>).
/// </summary>
public sealed class IlgpuAcceleratorDevice : IKdDevice, IDisposable
{
    readonly Accelerator _acc;
    readonly ConcurrentDictionary<KernelId, Kernel> _kernels = new();
    readonly object _gate;
    readonly List<IDisposable> _sequenceOwned = new(), _deviceOwned = new();
    int _depth;

    /// <summary>Wraps <paramref name="accelerator"/> (not owned: the caller disposes it after this device);
    /// <paramref name="gate"/> is the lock every user of that accelerator holds around its launches.</summary>
    public IlgpuAcceleratorDevice(Accelerator accelerator, object? gate = null)
    {
        _gate = gate ?? new object();
        _acc = accelerator;
        Traits = accelerator.AcceleratorType == AcceleratorType.CPU ? DeviceTraits.CpuSimulator
            : DeviceTraits.Cuda(accelerator.NumMultiprocessors);
    }

    /// <inheritdoc/>
    public DeviceTraits Traits { get; set; }

    /// <summary>Launches issued so far (tests read it to see that a path really ran these kernels).</summary>
    public long Launches;

    /// <inheritdoc/>
    public unsafe Buf<T> Alloc<T>(long count) where T : unmanaged
    {
        lock (_gate)
        {
            var buffer = _acc.Allocate1D<T>(Math.Max(count, 1));
            (_depth > 0 ? _sequenceOwned : _deviceOwned).Add(buffer);
            _known[buffer.NativePtr.ToInt64()] = buffer;
            return new Buf<T>(buffer.NativePtr, count);
        }
    }

    readonly SortedList<long, MemoryBuffer> _known = new();

    /// <summary>Makes <paramref name="buffer"/>'s memory addressable by <see cref="Buf{T}"/>s (the harness's own
    /// buffers); not owned.</summary>
    public void Register(MemoryBuffer buffer)
    {
        lock (_gate) _known[buffer.NativePtr.ToInt64()] = buffer;
    }


    /// <inheritdoc/>
    public IDisposable Sequence()
    {
        Monitor.Enter(_gate);
        if (_depth++ == 0) _acc.Bind();
        return new End(this);
    }

    sealed class End(IlgpuAcceleratorDevice d) : IDisposable
    {
        int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            try
            {
                if (d._depth == 1)
                {
                    d._acc.Synchronize();
                    foreach (var o in d._sequenceOwned)
                    {
                        if (o is MemoryBuffer m) d._known.Remove(m.NativePtr.ToInt64());
                        o.Dispose();
                    }
                    d._sequenceOwned.Clear();
                }
            }
            finally
            {
                d._depth--;
                Monitor.Exit(d._gate);
            }
        }
    }

    /// <inheritdoc/>
    public void Launch(KernelId kernel, LaunchShape shape, params object[] args)
    {
        kernel.Check(shape, args);
        if (shape.IsEmpty) return;
        lock (_gate)
        {
            if (_depth == 0) throw new InvalidOperationException($"{kernel.Name}: launched outside a sequence.");
            var loaded = _kernels.GetOrAdd(kernel, k => k.ExplicitlyGrouped ? _acc.LoadKernel(k.Method) : _acc.LoadAutoGroupedKernel(k.Method));
            var views = new object[args.Length];
            for (int i = 0; i < args.Length; i++) views[i] = args[i] is IBuf b ? View(b) : args[i];
            Interlocked.Increment(ref Launches);
            if (shape.Explicit)
                loaded.Launch(_acc.DefaultStream, new KernelConfig(new Index3D(shape.GridX, shape.GridY, shape.GridZ), new Index3D(shape.GroupX, shape.GroupY, 1),
                    SharedMemoryConfig.RequestDynamic<byte>(shape.SharedBytes)), views);
            else if (shape.Rank == 1) loaded.Launch(_acc.DefaultStream, new Index1D(shape.ExtentX), views);
            else loaded.Launch(_acc.DefaultStream, new Index2D(shape.ExtentX, shape.ExtentY), views);
        }
    }

    /// <summary>An ArrayView over the buffer's host memory, of its element type (no copy).</summary>
    object View(IBuf b)
    {
        if (b.Length == 0 || b.Ptr == 0) return b.EmptyView();
        long p = b.Ptr;
        int lo = 0, hi = _known.Count - 1;
        while (lo <= hi)   // the registered buffer with the largest start ≤ p
        {
            int mid = (lo + hi) / 2;
            if (_known.Keys[mid] <= p) lo = mid + 1; else hi = mid - 1;
        }
        if (hi >= 0)
        {
            var owner = _known.Values[hi];
            long offset = p - _known.Keys[hi];
            if (offset + b.Length * b.ElementSize <= owner.LengthInBytes && offset % b.ElementSize == 0)
                return b.ViewOf(owner, offset / b.ElementSize);
        }
        if (_acc.AcceleratorType != AcceleratorType.CPU)
            throw new ArgumentException($"buffer at 0x{p:x} is not in memory this {_acc.AcceleratorType} device allocated or registered.");
        var wrapper = CPUMemoryBuffer.Create(_acc, b.Ptr, b.Length, b.ElementSize);
        _sequenceOwned.Add(wrapper);
        return b.ViewOf(wrapper, 0);
    }

    /// <summary>Releases the device's buffers and kernels (not the accelerator).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var o in _deviceOwned.Concat(_sequenceOwned)) o.Dispose();
            _deviceOwned.Clear();
            _sequenceOwned.Clear();
            foreach (var k in _kernels.Values) k.Dispose();
            _kernels.Clear();
        }
    }
}
