using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// Makes ILGPU find the CUDA driver on Linux machines that only have <c>libcuda.so.1</c>.
/// ILGPU imports the driver as "cuda", which .NET probes as <c>libcuda.so</c> (and variants) but
/// never as <c>libcuda.so.1</c>; the unversioned name is a development symlink that driver-only
/// installs (containers started with the NVIDIA runtime, WSL) often lack. Without it ILGPU reports
/// no CUDA device and GpuKd silently falls back to the CPU accelerator. The handler below runs
/// only when .NET's own probing (and ILGPU's resolver) found nothing, so it changes nothing where
/// the default lookup works.
/// </summary>
internal static class CudaDriver
{
    static int _installed;

    /// <summary>Installs the fallback once per process (no-op off Linux).</summary>
    public static void EnsureResolvable()
    {
        if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref _installed, 1) != 0) return;
        var ilgpu = typeof(Context).Assembly;
        var alc = AssemblyLoadContext.GetLoadContext(ilgpu) ?? AssemblyLoadContext.Default;
        alc.ResolvingUnmanagedDll += (assembly, name) => Resolve(ilgpu, assembly, name);
    }

    static IntPtr Resolve(Assembly ilgpu, Assembly requester, string name)
    {
        if (requester != ilgpu || name != "cuda") return IntPtr.Zero;
        foreach (var candidate in new[] { "libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1" })
            if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
        return IntPtr.Zero;
    }
}
