using System.Runtime.InteropServices;

namespace GpuKd.Device;

/// <summary>
/// Exports of libtorch's CPU library (<c>libtorch_cpu</c>, the one TorchSharp loaded: found through the same probing
/// paths) for what TorchSharp 0.107 does not expose: libgomp's <c>GOMP_parallel</c> (<see cref="LibtorchOpenMp"/>; dlsym
/// searches the library's dependencies too) and the <c>at::Context</c> switches (<see cref="LibtorchMkldnn"/>).
/// </summary>
internal static class LibtorchCpu
{
    static readonly Lazy<nint> Handle = new(() =>
    {
        foreach (var name in new[] { "libtorch_cpu.so", "libtorch_cpu.dylib", "torch_cpu.dll" })
            if (NativeLibrary.TryLoad(name, typeof(TorchSharp.torch).Assembly, null, out var lib)) return lib;
        return 0;
    });

    /// <summary>The address of <paramref name="symbol"/>, or 0 where the library or the symbol is missing.</summary>
    public static nint Export(string symbol)
        => Handle.Value != 0 && NativeLibrary.TryGetExport(Handle.Value, symbol, out var address) ? address : 0;
}
