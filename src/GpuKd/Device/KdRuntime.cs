using GpuKd.Kernels.Ilgpu;
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
            _ilgpu?.Device.Dispose();
            _ilgpuCpu?.Device.Dispose();
            _ilgpu = _ilgpuCpu = null;
        }
    }
}
