namespace GpuKd;

/// <summary>Which implementation runs an op (see <see cref="gpukd.backend"/>).</summary>
public enum KdBackend
{
    /// <summary>ILGPU kernels on CUDA for CUDA tensors; the CPU fast path for CPU tensors.</summary>
    Auto,
    /// <summary>The CPU fast path: libtorch GEMM for the products, SIMD C# for the epilogues.</summary>
    Cpu,
    /// <summary>The ILGPU kernels, on CUDA when present, else on ILGPU's CPU accelerator
    /// (a slow simulator: for proving the kernels correct at small sizes, not for speed).</summary>
    Ilgpu,
    /// <summary>The ILGPU kernels on ILGPU's CPU accelerator even where a CUDA device exists
    /// (to test the kernels themselves on any machine).</summary>
    IlgpuCpu,
}
