using System.Runtime.InteropServices;

namespace GpuKd.Device;

/// <summary>
/// libtorch's current CUDA stream of a device, so that our kernels queue behind (and ahead of) the user's own
/// work exactly as a libtorch op would. TorchSharp 0.107 has no stream API, so this calls c10_cuda's exports
/// directly: <c>c10::cuda::getCurrentCUDAStream(DeviceIndex)</c> (a 16-byte <c>CUDAStream</c> returned in
/// registers) and <c>CUDAStream::stream()</c>. Where the library or a symbol is missing (a CPU-only libtorch, a
/// libtorch that renamed them) it is the legacy default stream (0), which is libtorch's default stream.
/// </summary>
internal static unsafe class LibtorchStreams
{
    [StructLayout(LayoutKind.Sequential)]
    struct CudaStream { public long Device; public long Id; }   // c10::Stream {Device{int8 type, int8 index}, int64 id}

    static readonly Lazy<(nint Current, nint Stream)> Exports = new(Resolve);

    static (nint, nint) Resolve()
    {
        foreach (var name in new[] { "libc10_cuda.so", "c10_cuda.dll" })
        {
            if (!NativeLibrary.TryLoad(name, typeof(LibtorchStreams).Assembly, null, out var lib)) continue;
            if (NativeLibrary.TryGetExport(lib, "_ZN3c104cuda20getCurrentCUDAStreamEa", out var current)
                && NativeLibrary.TryGetExport(lib, "_ZNK3c104cuda10CUDAStream6streamEv", out var stream))
                return (current, stream);
        }
        return (0, 0);
    }

    /// <summary>True when libtorch's current-stream functions were found.</summary>
    public static bool Available => Exports.Value.Current != 0;

    /// <summary>The cudaStream_t libtorch would use on device <paramref name="index"/> now (0 where unknown).</summary>
    public static nint Current(int index)
    {
        var (current, stream) = Exports.Value;
        if (current == 0) return 0;
        var s = ((delegate* unmanaged<sbyte, CudaStream>)current)((sbyte)index);
        return ((delegate* unmanaged<CudaStream*, nint>)stream)(&s);
    }
}
