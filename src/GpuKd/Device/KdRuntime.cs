using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Launch.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// The one place that decides where a call runs (issue 2 §4, issue 13): CUDA tensors run the op programs in place
/// (<see cref="Programs"/>: libtorch's device, primary context and current stream); CPU tensors take the CPU fast
/// path (<see cref="CpuBackend"/>) under <see cref="KdBackend.Auto"/>/<see cref="KdBackend.Cpu"/>, and the same
/// programs on ILGPU's CPU accelerator under <see cref="KdBackend.Ilgpu"/>/<see cref="KdBackend.IlgpuCpu"/> (which is
/// how CI exercises them). ILGPU devices are created once, lazily, shared by all threads, and released at process exit.
/// </summary>
internal static class KdRuntime
{
    static readonly object Sync = new();
    static IlgpuDevice? _ilgpu, _ilgpuCpu;
    static TorchDevice? _simulator;
    static readonly Dictionary<int, TorchDevice> CudaDevices = new();

    /// <summary>Tests: run the op programs on this device (a CUDA device over a recording driver) whatever the tensors.</summary>
    internal static readonly AsyncLocal<TorchDevice?> Override = new();

    /// <summary>Tests: true for a meta tensor (shapes, no values) while <see cref="Override"/> is a device on the meta
    /// device — the probe that runs whole ops with no value to read, so any host read throws.</summary>
    internal static bool MetaProbe(Tensor x) => x.device_type == DeviceType.META && Override.Value?.Device.type == DeviceType.META;

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
            var device = IlgpuCpu();
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

    static KdRuntime()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Release();
        LibtorchOpenMp.Register();
    }

    /// <summary>The shared ILGPU device (ILGPU's CUDA accelerator where one exists, else its CPU accelerator; created on
    /// first use): the harness and the kernel tests use it; the library's CUDA path does not (it launches through the driver).</summary>
    public static IlgpuDevice Ilgpu()
    {
        lock (Sync) return _ilgpu ??= IlgpuDevice.Create(forceCpu: false);
    }

    /// <summary>The shared ILGPU CPU accelerator (created on first use): what the programs run on for CPU tensors under the
    /// ILGPU backend settings.</summary>
    public static IlgpuDevice IlgpuCpu()
    {
        lock (Sync)
        {
            if (_ilgpu is { IsCuda: false }) return _ilgpu;   // no GPU here: one simulator is enough
            return _ilgpuCpu ??= IlgpuDevice.Create(forceCpu: true);
        }
    }

    /// <summary>Disposes the ILGPU devices (kernels, scratch); the next call creates new ones.</summary>
    public static void Release()
    {
        lock (Sync)
        {
            _simulator = null;
            _ilgpu?.Dispose();
            _ilgpuCpu?.Dispose();
            _ilgpu = _ilgpuCpu = null;
        }
    }
}
