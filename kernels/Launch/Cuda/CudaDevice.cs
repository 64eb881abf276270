using System.Collections.Concurrent;
using ILGPU.Runtime.Cuda;

namespace GpuKd.Kernels.Launch.Cuda;

/// <summary>
/// Runs programs on a CUDA GPU in the caller's world (DESIGN §6): the device's <b>primary context</b> (the one
/// libtorch and PyTorch use) is retained once and pushed/popped around each launch sequence; every kernel is
/// launched on the sequence's stream (the caller's current stream), from PTX that ILGPU compiled
/// (<see cref="PtxCache"/>) and the driver loaded into that context. No ILGPU accelerator, no context of our
/// own, no copy and no synchronisation: a program's launches are queued and the call returns.
/// Temporaries come from the stream-ordered allocator (<c>cuMemAllocAsync</c>/<c>cuMemFreeAsync</c> on the
/// sequence's stream, so freeing needs no wait) unless the TorchSharp binding allocates through libtorch instead.
/// </summary>
public sealed class CudaDevice : IKdDevice, IDisposable
{
    readonly ICudaDriver _driver;
    readonly int _device;
    readonly nint _context;
    readonly Func<nint> _stream;
    readonly CudaArchitecture _arch;
    readonly ConcurrentDictionary<KernelId, Lazy<(nint Function, CompiledPtx Ptx)>> _functions = new();   // Lazy: one module load per kernel even under concurrent first calls
    readonly ConcurrentBag<nint> _modules = new();
    readonly ThreadLocal<Stack<Scope>> _scopes = new(() => new Stack<Scope>());
    readonly List<nint> _persistent = new();
    int _disposed;

    /// <summary>Binds device <paramref name="ordinal"/> through <paramref name="driver"/>; <paramref name="stream"/>
    /// gives the stream of each new sequence (null: the legacy default stream, which is libtorch's default stream).</summary>
    public CudaDevice(ICudaDriver driver, int ordinal = 0, Func<nint>? stream = null)
    {
        _driver = driver;
        _stream = stream ?? (() => 0);
        driver.Ok(driver.Init(0), "CUDA device", "cuInit");
        driver.Ok(driver.DeviceGet(out _device, ordinal), $"CUDA device {ordinal}", "cuDeviceGet");
        driver.Ok(driver.DeviceGetAttribute(out int sms, CudaConst.MultiprocessorCount, _device), "CUDA device", "cuDeviceGetAttribute");
        driver.Ok(driver.DeviceGetAttribute(out int major, CudaConst.ComputeCapabilityMajor, _device), "CUDA device", "cuDeviceGetAttribute");
        driver.Ok(driver.DeviceGetAttribute(out int minor, CudaConst.ComputeCapabilityMinor, _device), "CUDA device", "cuDeviceGetAttribute");
        driver.Ok(driver.DevicePrimaryCtxRetain(out _context, _device), $"CUDA device {ordinal}", "cuDevicePrimaryCtxRetain");
        _arch = PtxCache.ArchitectureFor(major, minor);
        Ordinal = ordinal;
        Traits = DeviceTraits.Cuda(sms);
    }

    /// <summary>The device's ordinal.</summary>
    public int Ordinal { get; }

    /// <inheritdoc/>
    public DeviceTraits Traits { get; set; }

    /// <summary>Block of the implicitly grouped 1-D kernels.</summary>
    public const int Block1 = 256;

    /// <summary>Block of the implicitly grouped 2-D kernels: 32 along X (the contiguous index) for coalesced access.</summary>
    public const int Block2X = 32, Block2Y = 8;

    sealed class Scope(CudaDevice device, nint stream) : IDisposable
    {
        public readonly nint Stream = stream;
        public readonly List<nint> Temporaries = new();
        int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            var stack = device._scopes.Value!;
            try
            {
                foreach (var p in Temporaries) device._driver.Ok(device._driver.MemFreeAsync(p, Stream), "launch sequence", "cuMemFreeAsync");
            }
            finally
            {
                if (stack.Count > 0 && ReferenceEquals(stack.Peek(), this)) stack.Pop();
                device._driver.Ok(device._driver.CtxPopCurrent(out _), "launch sequence", "cuCtxPopCurrent");
            }
        }
    }

    Scope Current(string what) => _scopes.Value!.TryPeek(out var s) ? s : throw new InvalidOperationException($"{what}: outside a launch sequence.");

    /// <inheritdoc/>
    public IDisposable Sequence()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var stack = _scopes.Value!;
        _driver.Ok(_driver.CtxPushCurrent(_context), "launch sequence", "cuCtxPushCurrent");
        var scope = new Scope(this, stack.TryPeek(out var outer) ? outer.Stream : _stream());
        stack.Push(scope);
        return scope;
    }

    /// <inheritdoc/>
    public unsafe Buf<T> Alloc<T>(long count) where T : unmanaged
    {
        ulong bytes = (ulong)Math.Max(count, 1) * (ulong)sizeof(T);
        if (_scopes.Value!.TryPeek(out var scope))
        {
            _driver.Ok(_driver.MemAllocAsync(out var p, bytes, scope.Stream), $"scratch of {count} {typeof(T).Name}", "cuMemAllocAsync");
            scope.Temporaries.Add(p);
            return new Buf<T>(p, count);
        }
        using (Sequence())
        {
            _driver.Ok(_driver.MemAllocAsync(out var p, bytes, Current("alloc").Stream), $"buffer of {count} {typeof(T).Name}", "cuMemAllocAsync");
            lock (_persistent) _persistent.Add(p);
            return new Buf<T>(p, count);
        }
    }

    /// <inheritdoc/>
    public void Launch(KernelId kernel, LaunchShape shape, params object[] args)
    {
        kernel.Check(shape, args);
        if (shape.IsEmpty) return;
        var scope = Current(kernel.Name);
        var (function, ptx) = Loaded(kernel);
        var parameters = ArgPacker.Pack(kernel, ptx.Entry, shape, args);
        uint gx, gy, gz, bx, by;
        if (shape.Explicit) (gx, gy, gz, bx, by) = ((uint)shape.GridX, (uint)shape.GridY, (uint)shape.GridZ, (uint)shape.GroupX, (uint)shape.GroupY);
        else if (shape.Rank == 1) (gx, gy, gz, bx, by) = (Blocks(shape.ExtentX, Block1), 1, 1, Block1, 1);
        else (gx, gy, gz, bx, by) = (Blocks(shape.ExtentX, Block2X), Blocks(shape.ExtentY, Block2Y), 1, Block2X, Block2Y);
        _driver.Ok(_driver.LaunchKernel(function, gx, gy, gz, bx, by, 1, (uint)shape.SharedBytes, scope.Stream, parameters), kernel.Name, "cuLaunchKernel");
    }

    (nint, CompiledPtx) Loaded(KernelId kernel)
    {
        var lazy = _functions.GetOrAdd(kernel, k => new Lazy<(nint, CompiledPtx)>(() => Load(k)));
        try { return lazy.Value; }
        catch
        {
            _functions.TryRemove(new KeyValuePair<KernelId, Lazy<(nint, CompiledPtx)>>(kernel, lazy));   // retry next time, not a cached failure
            throw;
        }
    }

    static uint Blocks(int extent, int block) => (uint)((extent + block - 1) / block);

    (nint, CompiledPtx) Load(KernelId kernel)
    {
        var ptx = PtxCache.Get(kernel, _arch);
        _driver.Ok(_driver.ModuleLoadData(out var module, ptx.Image), kernel.Name, "cuModuleLoadData");
        _modules.Add(module);
        _driver.Ok(_driver.ModuleGetFunction(out var function, module, ptx.Entry.Name), kernel.Name, "cuModuleGetFunction");
        return (function, ptx);
    }

    /// <summary>Unloads the modules, frees the persistent buffers and releases the primary context.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_driver.CtxPushCurrent(_context) == 0)
        {
            foreach (var p in _persistent) _driver.MemFreeAsync(p, 0);
            foreach (var m in _modules) _driver.ModuleUnload(m);
            _driver.CtxPopCurrent(out _);
        }
        _driver.DevicePrimaryCtxRelease(_device);
        _scopes.Dispose();
    }
}
