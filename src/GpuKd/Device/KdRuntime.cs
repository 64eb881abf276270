using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Launch.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// The one place that decides which backend runs a call (issue 2 §4): <see cref="KdBackend.Auto"/>
/// sends CUDA tensors to the ILGPU kernels on CUDA and CPU tensors to the CPU fast path;
/// <see cref="KdBackend.Ilgpu"/> forces the ILGPU kernels (on CUDA when present, else on
/// ILGPU's CPU accelerator, which is how CI exercises them). ILGPU devices are created
/// once, lazily, shared by all threads, and released at process exit.
/// </summary>
internal static class KdRuntime
{
    static readonly object Sync = new();
    static IlgpuBackend? _ilgpu, _ilgpuCpu;
    static TorchDevice? _simulator;
    static readonly Dictionary<int, TorchDevice> CudaDevices = new();

    /// <summary>Tests: run the op programs on this device (a CUDA device over a recording driver) whatever the tensors.</summary>
    internal static readonly AsyncLocal<TorchDevice?> Override = new();

    /// <summary>The device that runs the op programs for inputs like <paramref name="x"/>: libtorch's CUDA device in
    /// place for a CUDA tensor; ILGPU's CPU accelerator over CPU tensors when an ILGPU backend is chosen; null for
    /// the CPU fast path (libtorch GEMM + SIMD C#).</summary>
    public static TorchDevice? Programs(Tensor x)
    {
        if (Override.Value is { } forced) return forced;
        var choice = gpukd.backend;
        if (x.device_type == DeviceType.CUDA)
        {
            if (choice == KdBackend.Cpu) throw new ArgumentException("The CPU backend needs CPU tensors; x is on " + x.device + ".", nameof(x));
            return Cuda(x.device);
        }
        if (choice is KdBackend.Ilgpu or KdBackend.IlgpuCpu) return Simulator();
        return null;
    }

    /// <summary>ILGPU's CPU accelerator behind the programs (shares the ILGPU backend's accelerator and gate).</summary>
    static TorchDevice Simulator()
    {
        lock (Sync)
        {
            if (_simulator is not null) return _simulator;
            var device = IlgpuCpu().Device;
            return _simulator = new TorchDevice(new IlgpuAcceleratorDevice(device.Accelerator, device.Gate), new torch.Device(DeviceType.CPU));
        }
    }

    /// <summary>The CUDA device of a libtorch CUDA device: its primary context, libtorch's current stream.</summary>
    static TorchDevice Cuda(torch.Device device)
    {
        int ordinal = Math.Max(device.index, 0);
        lock (Sync)
        {
            if (CudaDevices.TryGetValue(ordinal, out var d)) return d;
            var driver = CudaDriverApi.TryLoad() ?? throw new InvalidOperationException("A CUDA tensor, but the CUDA driver (libcuda.so.1) could not be loaded.");
            d = new TorchDevice(new CudaDevice(driver, ordinal, () => LibtorchStreams.Current(ordinal)), device);
            CudaDevices[ordinal] = d;
            return d;
        }
    }

    static KdRuntime() => AppDomain.CurrentDomain.ProcessExit += (_, _) => Release();

    /// <summary>The backend for an op whose inputs live where <paramref name="x"/> lives.</summary>
    public static IKdBackend For(Tensor x)
    {
        var choice = gpukd.backend;
        bool cuda = x.device_type == DeviceType.CUDA;
        if (choice == KdBackend.Cpu && cuda)
            throw new ArgumentException("The CPU backend needs CPU tensors; x is on " + x.device + ".", nameof(x));
        if (choice == KdBackend.IlgpuCpu) return IlgpuCpu();
        if (choice == KdBackend.Ilgpu || cuda) return Ilgpu();
        return CpuBackend.Instance;
    }

    /// <summary>The shared ILGPU backend (created on first use).</summary>
    public static IlgpuBackend Ilgpu()
    {
        lock (Sync) return _ilgpu ??= new IlgpuBackend(IlgpuDevice.Create(forceCpu: false));
    }

    /// <summary>The shared ILGPU backend on ILGPU's CPU accelerator (created on first use).</summary>
    public static IlgpuBackend IlgpuCpu()
    {
        lock (Sync)
        {
            if (_ilgpu is { Device.IsCuda: false }) return _ilgpu;   // no GPU here: one simulator is enough
            return _ilgpuCpu ??= new IlgpuBackend(IlgpuDevice.Create(forceCpu: true));
        }
    }

    /// <summary>Disposes the ILGPU devices (kernels, scratch); the next call creates new ones.</summary>
    public static void Release()
    {
        lock (Sync)
        {
            _simulator = null;
            _ilgpu?.Device.Dispose();
            _ilgpuCpu?.Device.Dispose();
            _ilgpu = _ilgpuCpu = null;
        }
    }
}
