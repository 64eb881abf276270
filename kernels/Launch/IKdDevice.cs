namespace GpuKd.Kernels.Launch;

/// <summary>
/// The one seam between the op programs (<c>kernels/Programs</c>) and whatever runs them: allocate, launch,
/// multiply. Three implementations: ILGPU's CPU accelerator over host memory
/// (<see cref="IlgpuAcceleratorDevice"/>), the CUDA driver in the caller's primary context and stream
/// (<see cref="Cuda.CudaDevice"/>), and in <c>src/</c> the TorchSharp binding that allocates through libtorch.
/// A device never copies to the host or synchronises inside a program; what a program leaves on the device
/// (even a scalar such as RKD's μ or a loss total) stays there.
/// </summary>
public interface IKdDevice
{
    /// <summary>Launch geometry of this device (group sizes the programs' grouped kernels use).</summary>
    DeviceTraits Traits { get; }

    /// <summary>Uninitialised scratch or output memory of <paramref name="count"/> elements, valid until the
    /// current sequence (<see cref="Sequence"/>) ends unless the caller keeps it (the TorchSharp binding hands
    /// out libtorch tensors that autograd may save).</summary>
    Buf<T> Alloc<T>(long count) where T : unmanaged;

    /// <summary>Queues one kernel launch. Arguments: <see cref="Buf{T}"/> for each view parameter, then the
    /// kernel's scalars and structs in order; checked against the kernel's signature first.</summary>
    void Launch(KernelId kernel, LaunchShape shape, params object[] args);

    /// <summary>Opens a launch sequence: the CUDA device makes the primary context current on this thread for
    /// it and launches on the sequence's stream; the CPU accelerator waits for its kernels at the end and
    /// releases its wrappers. One sequence per autograd call.</summary>
    IDisposable Sequence();

    /// <summary>A library product engine for the programs' Grams and (Ḡ+Ḡᵀ)X, or null: the programs then launch the
    /// library's own product kernels. The TorchSharp binding on CUDA offers cuBLAS through libtorch's matmul, which
    /// takes the products <see cref="ProductRoute"/> gives it.</summary>
    IProductEngine? Products => null;
}

/// <summary>A library product (cuBLAS through libtorch on CUDA) that a device may offer instead of the
/// library's own tiled kernel.</summary>
public interface IProductEngine
{
    /// <summary>True if this engine should compute the product (see <see cref="ProductRoute"/>).</summary>
    bool Takes(ProductRoute.Shape shape);

    /// <summary>g[z] = x[z] x[z]ᵀ for x [batch, n, d]; false if this engine cannot address these buffers.</summary>
    bool TryGram<T>(Buf<T> x, Buf<T> g, int batch, int n, int d) where T : unmanaged;

    /// <summary>y[z] = (m[z] + m[z]ᵀ) x[z] for m [batch, n, n], x [batch, n, d]; false if it cannot.</summary>
    bool TrySymProduct<T>(Buf<T> m, Buf<T> x, Buf<T> y, int batch, int n, int d) where T : unmanaged;
}

/// <summary>Launch geometry a program needs from its device.</summary>
/// <param name="IsCuda">True on a CUDA device.</param>
/// <param name="NaiveTile">Side of the naive product's square groups (16 on a GPU, 4 on the CPU simulator).</param>
/// <param name="TiledGroup">Side of the register-tiled product's groups.</param>
/// <param name="TiledSlice">K slice of the register-tiled product.</param>
/// <param name="RowGroup">Threads per row of the grouped row reductions (a power of two).</param>
/// <param name="Multiprocessors">Streaming multiprocessors (the product's fill rule).</param>
/// <param name="Product">Which product kernel programs launch.</param>
public readonly record struct DeviceTraits(bool IsCuda, int NaiveTile, int TiledGroup, int TiledSlice, int RowGroup, int Multiprocessors, Ilgpu.ProductKernel Product = Ilgpu.ProductKernel.Auto)
{
    /// <summary>A CUDA GPU with <paramref name="multiprocessors"/> SMs.</summary>
    public static DeviceTraits Cuda(int multiprocessors) => new(true, 16, 16, 16, 32, multiprocessors);

    /// <summary>ILGPU's CPU accelerator (16 threads per group at most).</summary>
    public static DeviceTraits CpuSimulator => new(false, 4, 4, 4, 4, 1);
}
