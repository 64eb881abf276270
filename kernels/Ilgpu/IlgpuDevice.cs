using System.Collections.Concurrent;
using System.Numerics;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// One ILGPU context and accelerator: CUDA when a CUDA device exists (unless the CPU
/// accelerator is asked for), else ILGPU's CPU accelerator (a simulator, DESIGN §6).
/// Owns the compiled-kernel cache (each kernel compiled once per element type, on first
/// use) and serialises launches: callers run every launch sequence under <see cref="Gate"/>.
/// </summary>
public sealed class IlgpuDevice : IDisposable
{
    readonly Context _context;
    readonly ConcurrentDictionary<Type, object> _launchers = new();
    int _disposed;

    /// <summary>The accelerator kernels run on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>True for a CUDA accelerator (the kernels-only harness and the kernel tests; the library's CUDA path launches
    /// through the driver instead).</summary>
    public bool IsCuda => Accelerator.AcceleratorType == AcceleratorType.Cuda;

    /// <summary>Side of the square thread groups of the tiled product: 16 on a GPU; 4 on the
    /// CPU simulator, where each group thread is an OS thread and barriers are costly.</summary>
    public int Tile => IsCuda ? 16 : 4;

    /// <summary>Which product kernel <see cref="IlgpuLaunchers{T}"/> launches (default
    /// <see cref="ProductKernel.Auto"/>; the harness sets it to measure either one).</summary>
    public ProductKernel Product { get; set; } = ProductKernel.Auto;

    /// <summary>Thread group (TX = TY) of the register-tiled product: 16×16 threads (64×64 outputs) on a
    /// GPU; 4×4 (16×16 outputs, ILGPU's CPU group limit of 16 threads) on the CPU simulator.</summary>
    public int TiledGroup => IsCuda ? 16 : 4;

    /// <summary>Threads per row of the grouped row reductions (a power of two): a warp on a GPU, 4 on the CPU simulator.</summary>
    public int RowGroup => IsCuda ? 32 : 4;

    /// <summary>K slice of the register-tiled product staged through shared memory per step.</summary>
    public int TiledSlice => IsCuda ? 16 : 4;

    /// <summary>Held around every launch sequence: ILGPU streams are not for concurrent use.</summary>
    public object Gate { get; } = new();

    /// <summary>Pooled device scratch (staging copies, intermediate b² tables).</summary>
    public ScratchPool Scratch { get; }

    IlgpuDevice(Context context, Accelerator accelerator)
    {
        _context = context;
        Accelerator = accelerator;
        Scratch = new ScratchPool(accelerator);
    }

    /// <summary>Creates a device: the first CUDA device unless <paramref name="forceCpu"/>,
    /// else the CPU accelerator.</summary>
    public static IlgpuDevice Create(bool forceCpu)
    {
        if (!forceCpu) CudaDriver.EnsureResolvable();
        var context = Context.Create(b =>
        {
            b.CPU(CPUDevice.Default);
            if (!forceCpu) b.Cuda();
        });
        try
        {
            Accelerator acc = !forceCpu && context.GetCudaDevices().Count > 0
                ? context.CreateCudaAccelerator(0)
                : context.CreateCPUAccelerator(0);
            return new IlgpuDevice(context, acc);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>The launchers of element type <typeparamref name="T"/> (kernels compile lazily).</summary>
    public IlgpuLaunchers<T> For<T>() where T : unmanaged, IFloatingPointIeee754<T>
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return (IlgpuLaunchers<T>)_launchers.GetOrAdd(typeof(T), _ => new IlgpuLaunchers<T>(this));
    }

    /// <summary>Releases the accelerator and context (and with them every compiled kernel).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        lock (Gate)
        {
            Scratch.Dispose();
            Accelerator.Dispose();
            _context.Dispose();
        }
    }
}

/// <summary>The product kernel behind Gram and SymProduct.</summary>
public enum ProductKernel
{
    /// <summary>Register-tiled where it fills the device (enough 64×64 blocks), naive otherwise;
    /// always register-tiled on the CPU simulator (fewer groups, fewer barriers).</summary>
    Auto,
    /// <summary><see cref="MatMulKernel"/>: T×T threads, one output each.</summary>
    Naive,
    /// <summary><see cref="MatMulTiledKernel"/>: 4×4 outputs per thread.</summary>
    Tiled,
}
