using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace GpuKd.Kernels.Launch.Cuda;

/// <summary>A kernel compiled to PTX: the text (NUL-terminated for the driver) and its entry.</summary>
public sealed record CompiledPtx(KernelId Kernel, string Ptx, PtxEntry Entry)
{
    /// <summary>The module image for <c>cuModuleLoadData</c>.</summary>
    public byte[] Image { get; } = System.Text.Encoding.ASCII.GetBytes(Ptx + "\0");
}

/// <summary>
/// ILGPU as the compiler only (DESIGN §6): its PTX backend turns each kernel into PTX without a GPU and without
/// an ILGPU accelerator or CUDA context. Compiled once per (kernel, architecture) per process. A failed compile
/// poisons an ILGPU context, so the context is replaced after one.
/// </summary>
public static class PtxCache
{
    static readonly ConcurrentDictionary<(KernelId, CudaArchitecture), CompiledPtx> Compiled = new();
    static readonly object Sync = new();
    static Context? _context;
    static readonly Dictionary<CudaArchitecture, PTXBackend> Backends = new();

    /// <summary>PTX ISA 8.0 (CUDA 12.0): what ptxas and drivers from CUDA 12 on read; the kernels need nothing newer.</summary>
    public static readonly CudaInstructionSet Isa = CudaInstructionSet.ISA_80;

    /// <summary>The architecture to compile for on a device of compute capability major.minor: the device's own
    /// where ILGPU knows it (ILGPU 1.5.3 writes at most <c>.target sm_80</c>, which the driver JIT-compiles forward).</summary>
    public static CudaArchitecture ArchitectureFor(int major, int minor) => new(major, minor);

    /// <summary>The PTX of <paramref name="kernel"/> for <paramref name="arch"/> (compiled on first request).</summary>
    public static CompiledPtx Get(KernelId kernel, CudaArchitecture arch) => Compiled.GetOrAdd((kernel, arch), k => Compile(k.Item1, k.Item2));

    static CompiledPtx Compile(KernelId kernel, CudaArchitecture arch)
    {
        lock (Sync)
        {
            _context ??= Context.Create(b => b.Optimize(OptimizationLevel.O1));
            if (!Backends.TryGetValue(arch, out var backend)) Backends[arch] = backend = new PTXBackend(_context, arch, Isa, null!);
            var entry = kernel.ExplicitlyGrouped ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel.Method)
                                                 : EntryPointDescription.FromImplicitlyGroupedKernel(kernel.Method);
            try
            {
                var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
                return new CompiledPtx(kernel, compiled.PTXAssembly, PtxEntry.Parse(compiled.PTXAssembly));
            }
            catch
            {
                foreach (var b in Backends.Values) b.Dispose();
                Backends.Clear();
                _context.Dispose();
                _context = null;
                throw;
            }
        }
    }
}
