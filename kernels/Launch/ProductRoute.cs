namespace GpuKd.Kernels.Launch;

/// <summary>
/// The one place that decides, on CUDA, whether a product goes to the library's own tiled ILGPU kernel or to
/// cuBLAS through libtorch's matmul (issue 13 §3). The crossover is a GPU measurement (bench/gpu, issue 14):
/// until that run lands the rule below is the kernels-only harness's H200 reading (bench/results/gpu-h200-tiled:
/// our tiled Gram 4.9 ms vs cuBLAS ~1.5 ms at b = 4096, D = 2048; at b ≤ 256 one library call's fixed cost is
/// comparable to the whole product), so small products stay ours and everything from
/// <see cref="MinLibraryOutputs"/> outputs up goes to cuBLAS.
/// </summary>
public static class ProductRoute
{
    /// <summary>A product's size: C is batch × m × n, inner dimension k.</summary>
    public readonly record struct Shape(int Batch, int M, int N, int K)
    {
        /// <summary>Outputs of the whole batch.</summary>
        public long Outputs => (long)Batch * M * N;
    }

    /// <summary>Below this many outputs (512², unmeasured in place; issue 14 replaces it) our kernel is used.</summary>
    public static long MinLibraryOutputs { get; set; } = 512L * 512;

    /// <summary>True when cuBLAS (through libtorch) should take the product.</summary>
    public static bool PreferLibrary(Shape s) => s.Outputs >= MinLibraryOutputs;
}
