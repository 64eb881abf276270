using System.Runtime.CompilerServices;
using GpuKd.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// Maps CPU tensors to ILGPU views for one launch sequence. On ILGPU's CPU accelerator the
/// tensor memory is wrapped in place (zero copy). On CUDA the data is staged through pooled
/// device buffers (ILGPU makes its own CUDA context, so libtorch's device pointers are not
/// usable there; DESIGN §6) and outputs are copied back by <see cref="Finish"/>.
/// </summary>
internal sealed unsafe class IlgpuBinder : IDisposable
{
    readonly IlgpuDevice _device;
    readonly List<IDisposable> _owned = new();
    readonly List<Action> _copyBack = new();

    public IlgpuBinder(IlgpuDevice device)
    {
        _device = device;
        // A CUDA context is current per thread, and ILGPU binds its accelerator only on some calls;
        // autograd may run a backward on another thread than the forward's. Bind() is a no-op when
        // this thread is already bound.
        device.Accelerator.Bind();
    }

    /// <summary>A view of <paramref name="t"/> (contiguous, on the CPU) that kernels read.</summary>
    public ArrayView<T> In<T>(Tensor t) where T : unmanaged => Bind<T>(t, output: false);

    /// <summary>A view of <paramref name="t"/> that kernels write.</summary>
    public ArrayView<T> Out<T>(Tensor t) where T : unmanaged => Bind<T>(t, output: true);

    /// <summary>Device-only scratch of <paramref name="count"/> elements.</summary>
    public ArrayView<T> Scratch<T>(long count) where T : unmanaged
    {
        var lease = _device.Scratch.Rent<T>(count);
        _owned.Add(lease);
        return lease.View;
    }

    ArrayView<T> Bind<T>(Tensor t, bool output) where T : unmanaged
    {
        long n = t.numel();
        T* ptr = TensorMemory.Ptr<T>(t);
        if (!_device.IsCuda)
        {
            var buffer = CPUMemoryBuffer.Create(_device.Accelerator, (IntPtr)ptr, n, sizeof(T));
            _owned.Add(buffer);
            return buffer.AsArrayView<T>(0, n);
        }
        var lease = _device.Scratch.Rent<T>(n);
        _owned.Add(lease);
        ArrayView1D<T, Stride1D.Dense> view = lease.View;
        if (output) _copyBack.Add(() => view.CopyToCPU(ref Unsafe.AsRef<T>(ptr), n));
        else view.CopyFromCPU(ref Unsafe.AsRef<T>(ptr), n);
        return lease.View;
    }

    /// <summary>Waits for the kernels and copies outputs back to their tensors.</summary>
    public void Finish()
    {
        _device.Accelerator.Synchronize();
        foreach (var copy in _copyBack) copy();
    }

    public void Dispose()
    {
        foreach (var o in _owned) o.Dispose();
        _owned.Clear();
    }
}
