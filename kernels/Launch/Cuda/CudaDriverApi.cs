using System.Runtime.InteropServices;

namespace GpuKd.Kernels.Launch.Cuda;

/// <summary>
/// <see cref="ICudaDriver"/> over the real driver, <c>libcuda.so.1</c> (the name driver-only installs provide),
/// loaded on first use: a machine without it only notices when it asks for a CUDA device
/// (<see cref="TryLoad"/> returns null). Function pointers are resolved once; nothing here creates a context.
/// </summary>
public sealed unsafe class CudaDriverApi : ICudaDriver
{
    static readonly Lazy<CudaDriverApi?> Shared = new(Load);

    readonly delegate* unmanaged<uint, int> _init;
    readonly delegate* unmanaged<int*, int> _driverGetVersion;
    readonly delegate* unmanaged<int*, int, int> _deviceGet;
    readonly delegate* unmanaged<int*, int, int, int> _deviceGetAttribute;
    readonly delegate* unmanaged<nint*, int, int> _primaryCtxRetain;
    readonly delegate* unmanaged<int, int> _primaryCtxRelease;
    readonly delegate* unmanaged<nint, int> _ctxPush;
    readonly delegate* unmanaged<nint*, int> _ctxPop;
    readonly delegate* unmanaged<nint*, byte*, int> _moduleLoadData;
    readonly delegate* unmanaged<nint, int> _moduleUnload;
    readonly delegate* unmanaged<nint*, nint, byte*, int> _moduleGetFunction;
    readonly delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int> _launchKernel;
    readonly delegate* unmanaged<nint*, nuint, nint, int> _memAllocAsync;
    readonly delegate* unmanaged<nint, nint, int> _memFreeAsync;
    readonly delegate* unmanaged<nint, nint, nuint, int> _memcpyHtoD;
    readonly delegate* unmanaged<nint, nint, nuint, int> _memcpyDtoH;
    readonly delegate* unmanaged<nint, int> _streamSynchronize;
    readonly delegate* unmanaged<int> _ctxSynchronize;
    readonly delegate* unmanaged<int, byte**, int> _getErrorName;

    CudaDriverApi(nint lib)
    {
        nint F(string name) => NativeLibrary.GetExport(lib, name);
        _init = (delegate* unmanaged<uint, int>)F("cuInit");
        _driverGetVersion = (delegate* unmanaged<int*, int>)F("cuDriverGetVersion");
        _deviceGet = (delegate* unmanaged<int*, int, int>)F("cuDeviceGet");
        _deviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)F("cuDeviceGetAttribute");
        _primaryCtxRetain = (delegate* unmanaged<nint*, int, int>)F("cuDevicePrimaryCtxRetain");
        _primaryCtxRelease = (delegate* unmanaged<int, int>)F("cuDevicePrimaryCtxRelease_v2");
        _ctxPush = (delegate* unmanaged<nint, int>)F("cuCtxPushCurrent_v2");
        _ctxPop = (delegate* unmanaged<nint*, int>)F("cuCtxPopCurrent_v2");
        _moduleLoadData = (delegate* unmanaged<nint*, byte*, int>)F("cuModuleLoadData");
        _moduleUnload = (delegate* unmanaged<nint, int>)F("cuModuleUnload");
        _moduleGetFunction = (delegate* unmanaged<nint*, nint, byte*, int>)F("cuModuleGetFunction");
        _launchKernel = (delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int>)F("cuLaunchKernel");
        _memAllocAsync = (delegate* unmanaged<nint*, nuint, nint, int>)F("cuMemAllocAsync");
        _memFreeAsync = (delegate* unmanaged<nint, nint, int>)F("cuMemFreeAsync");
        _memcpyHtoD = (delegate* unmanaged<nint, nint, nuint, int>)F("cuMemcpyHtoD_v2");
        _memcpyDtoH = (delegate* unmanaged<nint, nint, nuint, int>)F("cuMemcpyDtoH_v2");
        _streamSynchronize = (delegate* unmanaged<nint, int>)F("cuStreamSynchronize");
        _ctxSynchronize = (delegate* unmanaged<int>)F("cuCtxSynchronize");
        _getErrorName = (delegate* unmanaged<int, byte**, int>)F("cuGetErrorName");
    }

    /// <summary>The process's driver binding, or null where <c>libcuda.so.1</c> (or any export used) is missing.</summary>
    public static CudaDriverApi? TryLoad() => Shared.Value;

    static CudaDriverApi? Load()
    {
        string[] names = OperatingSystem.IsWindows() ? ["nvcuda.dll"]
            : ["libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/lib64/libcuda.so.1", "/usr/lib/wsl/lib/libcuda.so.1", "libcuda.so"];
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var lib)) continue;
            try { return new CudaDriverApi(lib); }
            catch (EntryPointNotFoundException) { return null; }   // a driver older than CUDA 11.2 (no stream-ordered allocator)
        }
        return null;
    }

#pragma warning disable CS1591 // ICudaDriver documents them
    public int Init(uint flags) => _init(flags);
    public int DriverGetVersion(out int version) { int v; int r = _driverGetVersion(&v); version = v; return r; }
    public int DeviceGet(out int device, int ordinal) { int d; int r = _deviceGet(&d, ordinal); device = d; return r; }
    public int DeviceGetAttribute(out int value, int attribute, int device) { int v; int r = _deviceGetAttribute(&v, attribute, device); value = v; return r; }
    public int DevicePrimaryCtxRetain(out nint context, int device) { nint c; int r = _primaryCtxRetain(&c, device); context = c; return r; }
    public int DevicePrimaryCtxRelease(int device) => _primaryCtxRelease(device);
    public int CtxPushCurrent(nint context) => _ctxPush(context);
    public int CtxPopCurrent(out nint context) { nint c; int r = _ctxPop(&c); context = c; return r; }

    public int ModuleLoadData(out nint module, byte[] image)
    {
        nint m;
        int r;
        fixed (byte* p = image) r = _moduleLoadData(&m, p);
        module = m;
        return r;
    }

    public int ModuleUnload(nint module) => _moduleUnload(module);

    public int ModuleGetFunction(out nint function, nint module, string name)
    {
        var bytes = System.Text.Encoding.ASCII.GetBytes(name + "\0");
        nint f;
        int r;
        fixed (byte* p = bytes) r = _moduleGetFunction(&f, module, p);
        function = f;
        return r;
    }

    public int LaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ, uint sharedBytes, nint stream, ReadOnlySpan<byte> parameters)
    {
        // ILGPU's own way: one packed argument buffer (CU_LAUNCH_PARAM_BUFFER_POINTER / _SIZE / _END).
        nuint size = (nuint)parameters.Length;
        fixed (byte* p = parameters)
        {
            void** extra = stackalloc void*[5];
            extra[0] = (void*)1;
            extra[1] = p;
            extra[2] = (void*)2;
            extra[3] = &size;
            extra[4] = null;
            return _launchKernel(function, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes, stream, null, extra);
        }
    }

    public int MemAllocAsync(out nint pointer, ulong bytes, nint stream) { nint p; int r = _memAllocAsync(&p, (nuint)bytes, stream); pointer = p; return r; }
    public int MemFreeAsync(nint pointer, nint stream) => _memFreeAsync(pointer, stream);
    public int MemcpyHtoD(nint destination, nint source, ulong bytes) => _memcpyHtoD(destination, source, (nuint)bytes);
    public int MemcpyDtoH(nint destination, nint source, ulong bytes) => _memcpyDtoH(destination, source, (nuint)bytes);
    public int StreamSynchronize(nint stream) => _streamSynchronize(stream);
    public int CtxSynchronize() => _ctxSynchronize();

    public string ErrorName(int result)
    {
        byte* name = null;
        return _getErrorName(result, &name) == 0 && name != null ? Marshal.PtrToStringAnsi((nint)name) ?? $"CUresult {result}" : $"CUresult {result}";
    }
#pragma warning restore CS1591
}
