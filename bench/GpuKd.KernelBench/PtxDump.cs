using GpuKd.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace GpuKd.KernelBench;

/// <summary>
/// Writes the PTX of every kernel in <see cref="KernelCatalog"/> with ILGPU's PTX backend (no GPU
/// needed), for <c>ptxas -v</c> to report registers, shared memory and spills per kernel
/// (bench/gpu/run.sh). On a CUDA accelerator for the device's own architecture, elsewhere for sm_90;
/// PTX ISA 8.0 in both cases.
/// </summary>
internal static class PtxDump
{
    public static int Write(string dir, Accelerator? accelerator, TextWriter log)
    {
        Directory.CreateDirectory(dir);
        // PTX ISA 8.0 (CUDA 12.0) whatever the driver offers: ptxas from any CUDA 12 toolkit (or the
        // copy Triton ships) reads it, and these kernels use nothing newer.
        var arch = accelerator is CudaAccelerator cuda ? cuda.Architecture : CudaArchitecture.SM_90;
        var isa = CudaInstructionSet.ISA_80;
        log.WriteLine($"PTX for {arch}, {isa} into {dir}");
        var manifest = new List<string> { "file\tkernel\tgrouping\tdynamic_shared" };
        int failed = 0;
        Context? context = null;
        PTXBackend? backend = null;
        foreach (var (name, method, grouped) in KernelCatalog.All())
        {
            // A failed compile poisons its context (DESIGN §6): start a fresh one after a failure.
            context ??= Context.Create(b => b.Optimize(OptimizationLevel.O1));
            backend ??= new PTXBackend(context, arch, isa, null!);
            string file = new string(name.Select(c => char.IsLetterOrDigit(c) || c == '.' ? c : '_').ToArray()) + ".ptx";
            try
            {
                var entry = grouped ? EntryPointDescription.FromExplicitlyGroupedKernel(method)
                                    : EntryPointDescription.FromImplicitlyGroupedKernel(method);
                var compiled = (PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty);
                File.WriteAllText(Path.Combine(dir, file), compiled.PTXAssembly);
                // The products' tiles and the row reductions' lanes are dynamic shared memory, which ptxas does not see.
                manifest.Add($"{file}\t{name}\t{(grouped ? "explicit" : "auto")}\t{(grouped ? DynamicShared(name) : "0")}");
            }
            catch (Exception e)
            {
                failed++;
                log.WriteLine($"  {name}: PTX compile FAILED: {e.GetType().Name}: {e.Message}");
                backend.Dispose(); context.Dispose();
                (backend, context) = (null, null);
            }
        }
        backend?.Dispose();
        context?.Dispose();
        File.WriteAllLines(Path.Combine(dir, "kernels.tsv"), manifest);
        log.WriteLine($"  {manifest.Count - 1} kernels written, {failed} failed");
        return failed;
    }

    static string DynamicShared(string kernel) => kernel switch
    {
        _ when kernel.StartsWith("MatMulKernel.") => "2*T*T elements (T=16 on CUDA: 512)",
        _ when kernel.StartsWith("MatMulTiledKernel.MatMul16") => "2*16*65 = 2080 elements",
        _ when kernel.StartsWith("MatMulTiledKernel.") => "bk*(4*TY+1)+bk*(4*TX+1) elements",
        _ => "W elements (one group of W threads per row, W=32 on CUDA)",
    };
}
