using System.Runtime.InteropServices;
using GpuKd.Kernels.Launch.Cuda;

namespace GpuKd.Tests.Launch;

/// <summary>
/// A CUDA driver that records instead of running: every context push/pop, module load, launch (kernel entry,
/// grid, block, shared bytes, stream, packed parameters), allocation, copy and synchronisation. The whole
/// CUDA path above it (PTX compile, argument packing, sequences, the TorchSharp binding) is the real code, so
/// a test sees exactly what an op would ask of a GPU. Memory "allocated" here is host memory (never read).
/// </summary>
internal sealed class RecordingDriver : ICudaDriver
{
    public sealed record Launch(string Entry, uint[] Grid, uint[] Block, uint SharedBytes, nint Stream, byte[] Parameters);

    readonly Dictionary<nint, string> _modules = new(), _functions = new();
    nint _next = 0x1000;
    public readonly List<Launch> Launches = new();
    public int Pushes, Pops, Copies, Syncs, Allocs, Frees, Depth, MaxDepth;
    public int? FailLaunchWith;
    public bool FailNextModuleLoad;

    public int Init(uint flags) => 0;
    public int DriverGetVersion(out int version) { version = 13000; return 0; }
    public int DeviceGet(out int device, int ordinal) { device = ordinal; return 0; }
    public int DeviceGetAttribute(out int value, int attribute, int device)
    {
        value = attribute switch { CudaConst.MultiprocessorCount => 132, CudaConst.ComputeCapabilityMajor => 9, CudaConst.ComputeCapabilityMinor => 0, _ => 0 };
        return 0;
    }
    public int DevicePrimaryCtxRetain(out nint context, int device) { context = 0xC0; return 0; }
    public int DevicePrimaryCtxRelease(int device) => 0;
    public int CtxPushCurrent(nint context) { Pushes++; MaxDepth = Math.Max(MaxDepth, ++Depth); return context == 0xC0 ? 0 : 201; }
    public int CtxPopCurrent(out nint context) { Pops++; Depth--; context = 0xC0; return 0; }

    public int ModuleLoadData(out nint module, byte[] image)
    {
        module = _next++;
        if (FailNextModuleLoad) { FailNextModuleLoad = false; return 218; }   // CUDA_ERROR_INVALID_PTX
        var ptx = System.Text.Encoding.ASCII.GetString(image).TrimEnd('\0');
        _modules[module] = PtxEntry.Parse(ptx).Name;
        return image[^1] == 0 ? 0 : 218;   // the driver wants NUL-terminated PTX
    }
    public int ModuleUnload(nint module) => 0;
    public int ModuleGetFunction(out nint function, nint module, string name)
    {
        function = _next++;
        _functions[function] = name;
        return _modules[module] == name ? 0 : 500;   // CUDA_ERROR_NOT_FOUND
    }

    public int LaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ, uint sharedBytes, nint stream, ReadOnlySpan<byte> parameters)
    {
        if (Depth == 0) return 201;   // CUDA_ERROR_INVALID_CONTEXT: no context current
        if (FailLaunchWith is { } error) return error;
        Launches.Add(new(_functions[function], [gridX, gridY, gridZ], [blockX, blockY, blockZ], sharedBytes, stream, parameters.ToArray()));
        return 0;
    }

    public int MemAllocAsync(out nint pointer, ulong bytes, nint stream) { Allocs++; pointer = Marshal.AllocHGlobal((nint)bytes); return 0; }
    public int MemFreeAsync(nint pointer, nint stream) { Frees++; Marshal.FreeHGlobal(pointer); return 0; }
    public int MemcpyHtoD(nint destination, nint source, ulong bytes) { Copies++; return 0; }
    public int MemcpyDtoH(nint destination, nint source, ulong bytes) { Copies++; return 0; }
    public int StreamSynchronize(nint stream) { Syncs++; return 0; }
    public int CtxSynchronize() { Syncs++; return 0; }
    public string ErrorName(int result) => result switch { 1 => "CUDA_ERROR_INVALID_VALUE", 201 => "CUDA_ERROR_INVALID_CONTEXT", 218 => "CUDA_ERROR_INVALID_PTX", 700 => "CUDA_ERROR_ILLEGAL_ADDRESS", _ => $"CUDA_ERROR_{result}" };

    /// <summary>The view arguments {pointer, length} of a launch, given its PTX parameter list.</summary>
    public static IEnumerable<(long Ptr, long Length)> Views(Launch l, PtxEntry entry)
    {
        int offset = 0;
        foreach (var p in entry.Params)
        {
            offset = (offset + p.Align - 1) / p.Align * p.Align;
            if (p.Size == 16 && p.Align == 8) yield return (BitConverter.ToInt64(l.Parameters, offset), BitConverter.ToInt64(l.Parameters, offset + 8));
            offset += p.Size;
        }
    }
}
