namespace GpuKd.Kernels.Launch.Cuda;

/// <summary>
/// The part of the CUDA driver API the launch layer uses, one member per driver function, returning the raw
/// <c>CUresult</c> (0 = success). <see cref="CudaDriverApi"/> binds it to <c>libcuda.so.1</c>; tests substitute a
/// recording fake to see every call an op makes (which kernels, which pointers, and that there is no copy and
/// no synchronisation) without a GPU. Handles are opaque pointers.
/// </summary>
public interface ICudaDriver
{
#pragma warning disable CS1591 // one member per driver function of the same name (cuInit, cuDeviceGet, ...)
    int Init(uint flags);
    int DriverGetVersion(out int version);
    int DeviceGet(out int device, int ordinal);
    int DeviceGetAttribute(out int value, int attribute, int device);
    int DevicePrimaryCtxRetain(out nint context, int device);
    int DevicePrimaryCtxRelease(int device);
    int CtxPushCurrent(nint context);
    int CtxPopCurrent(out nint context);
    int ModuleLoadData(out nint module, byte[] image);
    int ModuleUnload(nint module);
    int ModuleGetFunction(out nint function, nint module, string name);
    int LaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ, uint sharedBytes, nint stream, ReadOnlySpan<byte> parameters);
    int MemAllocAsync(out nint pointer, ulong bytes, nint stream);
    int MemFreeAsync(nint pointer, nint stream);
    int MemcpyHtoD(nint destination, nint source, ulong bytes);
    int MemcpyDtoH(nint destination, nint source, ulong bytes);
    int StreamSynchronize(nint stream);
    int CtxSynchronize();
    string ErrorName(int result);
#pragma warning restore CS1591
}

/// <summary>CUDA driver constants the launch layer uses.</summary>
public static class CudaConst
{
    /// <summary>CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT.</summary>
    public const int MultiprocessorCount = 16;
    /// <summary>CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR.</summary>
    public const int ComputeCapabilityMajor = 75;
    /// <summary>CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR.</summary>
    public const int ComputeCapabilityMinor = 76;
}

/// <summary>A failed driver call: names the kernel (or the step), the driver function and the <c>CUresult</c>.
/// The process and the device stay usable (the launch layer never leaves a context pushed after a failure).</summary>
public sealed class CudaException(string what, string function, int result, string resultName)
    : Exception($"{what}: {function} failed with {resultName} ({result}).")
{
    /// <summary>The raw CUresult.</summary>
    public int Result { get; } = result;

    /// <summary>Its name, e.g. CUDA_ERROR_INVALID_VALUE.</summary>
    public string ResultName { get; } = resultName;
}

/// <summary>Checks driver results.</summary>
public static class CudaCheck
{
    /// <summary>Throws a <see cref="CudaException"/> unless <paramref name="result"/> is CUDA_SUCCESS.</summary>
    public static void Ok(this ICudaDriver driver, int result, string what, string function)
    {
        if (result != 0) throw new CudaException(what, function, result, driver.ErrorName(result));
    }
}
