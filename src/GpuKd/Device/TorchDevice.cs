using System.Runtime.InteropServices;
using GpuKd.Kernels.Launch;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// The TorchSharp binding of the op programs: runs them on the device that holds the tensors, through an inner
/// device that launches (<see cref="Kernels.Launch.Cuda.CudaDevice"/> for CUDA tensors — in place, in
/// libtorch's primary context and current stream; <see cref="IlgpuAcceleratorDevice"/> over CPU tensors on
/// ILGPU's CPU accelerator). Every byte a program touches is a libtorch allocation: inputs are the tensors
/// themselves (their data pointer, storage offset included), outputs and what autograd saves are
/// <see cref="Keep{T}"/> tensors, temporaries are <c>torch.empty</c> on the device released when the sequence
/// ends (libtorch's caching allocator is stream-ordered, so that needs no wait). On CUDA the library's products
/// go to cuBLAS through libtorch's matmul where <see cref="ProductRoute"/> says so.
/// </summary>
internal sealed class TorchDevice : IKdDevice
{
    readonly IKdDevice _inner;
    readonly ThreadLocal<Stack<List<Tensor>>> _scopes = new(() => new Stack<List<Tensor>>());
    readonly LibraryProducts? _products;

    public TorchDevice(IKdDevice inner, torch.Device device)
    {
        _inner = inner;
        Device = device;
        if (device.type == DeviceType.CUDA) _products = new LibraryProducts(this);
    }

    /// <summary>Where the tensors live.</summary>
    public torch.Device Device { get; }

    /// <summary>The launching device.</summary>
    public IKdDevice Inner => _inner;

    public DeviceTraits Traits => _inner.Traits;

    public IProductEngine? Products => _products;

    /// <summary>Tensors created or bound in the open sequences, by data pointer: lets the library product find the
    /// tensor behind a buffer.</summary>
    readonly ThreadLocal<Dictionary<(nint, long), Tensor>> _known = new(() => new());

    public Buf<T> Alloc<T>(long count) where T : unmanaged
    {
        if (!_scopes.Value!.TryPeek(out var scope)) throw new InvalidOperationException("TorchDevice.Alloc outside a sequence.");
        var t = empty(Math.Max(count, 1), dtype: DType<T>(), device: Device);
        scope.Add(t);
        return Bind<T>(t).Slice(0, count);
    }

    /// <summary>A new tensor of <paramref name="shape"/> on the device that the caller owns (an op's output or a
    /// tensor autograd saves), and its buffer.</summary>
    public (Tensor Tensor, Buf<T> Buf) Keep<T>(params long[] shape) where T : unmanaged
    {
        var t = empty(shape, dtype: DType<T>(), device: Device);
        return (t, Bind<T>(t));
    }

    /// <summary><see cref="Keep{T}"/> for a tensor autograd will save: it is added to <paramref name="saved"/>, and its
    /// buffer returned.</summary>
    public Buf<T> KeepInto<T>(List<Tensor> saved, params long[] shape) where T : unmanaged
    {
        var (t, buf) = Keep<T>(shape);
        saved.Add(t);
        return buf;
    }

    /// <summary>The buffer of a contiguous tensor of element type <typeparamref name="T"/> on this device.</summary>
    public Buf<T> Bind<T>(Tensor t) where T : unmanaged
    {
        if (!t.is_contiguous()) throw new InvalidOperationException("internal: tensor must be contiguous");
        if (t.dtype != DType<T>()) throw new InvalidOperationException($"internal: a {t.dtype} tensor bound as {typeof(T).Name}");
        if (t.device_type != Device.type || (Device.type == DeviceType.CUDA && t.device_index != Math.Max(Device.index, 0)))
            throw new InvalidOperationException($"internal: a tensor on {t.device} bound on {Device}");
        var buf = new Buf<T>(t.numel() == 0 ? 0 : DataPtr(t), t.numel());
        if (_scopes.Value!.Count > 0) _known.Value![(buf.Ptr, buf.Length)] = t;
        return buf;
    }

    /// <summary>Opens a sequence on the inner device; temporaries are released after it (and after the CPU
    /// accelerator has waited for its kernels).</summary>
    public IDisposable Sequence()
    {
        var inner = _inner.Sequence();
        _scopes.Value!.Push(new List<Tensor>());
        return new End(this, inner);
    }

    sealed class End(TorchDevice d, IDisposable inner) : IDisposable
    {
        int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            try { inner.Dispose(); }
            finally
            {
                var stack = d._scopes.Value!;
                foreach (var t in stack.Pop()) t.Dispose();
                if (stack.Count == 0) d._known.Value!.Clear();
            }
        }
    }

    public void Launch(KernelId kernel, LaunchShape shape, params object[] args) => _inner.Launch(kernel, shape, args);

    internal static ScalarType DType<T>() => typeof(T) == typeof(float) ? ScalarType.Float32
        : typeof(T) == typeof(double) ? ScalarType.Float64
        : throw new NotSupportedException($"element type {typeof(T).Name}");

    /// <summary>tensor.data_ptr() (storage pointer + offset × element size) for CPU and CUDA tensors alike,
    /// from the native shim TorchSharp already loaded.</summary>
    static nint DataPtr(Tensor t) => THSTensor_data(t.Handle);

    [DllImport("LibTorchSharp")]
    static extern nint THSTensor_data(nint handle);

    /// <summary>cuBLAS through libtorch's matmul on the very tensors of the sequence (found by pointer): no copy;
    /// <c>addmm_</c> with β = 0 writes the output in place (and ignores its old contents, NaN included).
    /// TF32 only where the user enabled it in torch (libtorch's own switch).</summary>
    sealed class LibraryProducts(TorchDevice d) : IProductEngine
    {
        public bool Takes(ProductRoute.Shape shape) => ProductRoute.PreferLibrary(shape);

        Tensor? Find<T>(Buf<T> b) where T : unmanaged => d._known.Value!.TryGetValue((b.Ptr, b.Length), out var t) ? t : null;

        public bool TryGram<T>(Buf<T> x, Buf<T> g, int batch, int n, int dim) where T : unmanaged
        {
            if (Find(x) is not { } xt || Find(g) is not { } gt) return false;
            using var scope = NewDisposeScope();
            var x3 = xt.view(batch, n, dim);
            var g3 = gt.view(batch, n, n);
            if (batch == 1) g3[0].addmm_(x3[0], x3[0].t(), 0, 1);
            else g3.copy_(x3.bmm(x3.transpose(1, 2)));
            return true;
        }

        public bool TrySymProduct<T>(Buf<T> m, Buf<T> x, Buf<T> y, int batch, int n, int dim) where T : unmanaged
        {
            if (Find(m) is not { } mt || Find(x) is not { } xt || Find(y) is not { } yt) return false;
            using var scope = NewDisposeScope();
            var m3 = mt.view(batch, n, n);
            var x3 = xt.view(batch, n, dim);
            var y3 = yt.view(batch, n, dim);
            if (batch == 1) y3[0].addmm_(m3[0], x3[0], 0, 1).addmm_(m3[0].t(), x3[0], 1, 1);
            else y3.copy_(m3.bmm(x3) + m3.transpose(1, 2).bmm(x3));
            return true;
        }
    }
}
