using GpuKd.Kernels.Maths;
using GpuKd.Device;
using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Programs;
using GpuKd.Ops;
using NUnit.Framework;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The structured-KD ILGPU kernels (run here on ILGPU's CPU accelerator) against the CPU backend's C# kernels:
/// the same per-pixel / per-column formulas in float64 must agree to round-off (≤ 1e-12 relative) on every path of
/// both losses, and the ILGPU backend must actually have launched them (the SKD fixtures' [Ilgpu] runs rely on it).
/// </summary>
public sealed class SkdIlgpuKernelTests
{
    static (Tensor Value, Tensor GradS, Tensor GradT) On(KdBackend backend, Func<Tensor, Tensor, Tensor> f, Tensor s, Tensor t)
    {
        using var _ = gpukd.use_backend(backend);
        return SkdCases.ValueAndGrads(f, s, t);
    }

    [Test]
    public void Pixelwise_kernel_matches_the_cpu_kernel([Values] SkdPixelwise mode, [Values(1.0, 2.5)] double temperature)
    {
        // Spread 30: most classes' probabilities underflow far below 1e-16 (exp of large negative arguments). Spread
        // 1e-3: nearly uniform softmaxes, where the KL (~1e-7) and the gradients (~1e-4) are differences of O(1)
        // terms; there both kernels know them only to the round-off of those terms (a few ulp of exp/log: ~1e-17
        // per entry, ~1e-16 in norm), so they are compared with floor 1e-3 (‖Δ‖ ≤ 1e-15, still 1e-10 of the gradients).
        foreach (var (b, k, h, w, spread) in new[] { (1, 1, 1, 1, 1.0), (2, 3, 5, 4, 3.0), (3, 19, 7, 9, 30.0), (2, 5, 1, 13, 0.001) })
        {
            using var scope = NewDisposeScope();
            var s = spread * Inputs.Randn([b, k, h, w], salt: 21);
            var t = spread * Inputs.Randn([b, k, h, w], salt: 22);
            Tensor F(Tensor x, Tensor y) => gpukd.functional.skd_pixelwise_loss(x, y, temperature, mode);
            long before = Interlocked.Read(ref SkdRuns.Pixelwise);
            var cpu = On(KdBackend.Cpu, F, s, t);
            Assert.That(Interlocked.Read(ref SkdRuns.Pixelwise), Is.EqualTo(before), "the CPU backend must not launch the ILGPU kernel");
            var ilgpu = On(KdBackend.Ilgpu, F, s, t);
            Assert.That(Interlocked.Read(ref SkdRuns.Pixelwise), Is.GreaterThan(before), "the ILGPU backend must launch the ILGPU kernel");
            SkdCases.AssertSame(ilgpu, cpu, Tolerances.SameComputation, $"skd_pixelwise_loss Ilgpu vs Cpu [{b},{k},{h},{w}] spread={spread} {mode} T={temperature}", spread < 0.01 ? 1e-3 : 1e-12);
        }
    }

    [Test]
    public void Pixelwise_kernel_float32_is_widened_like_the_cpu_kernel([Values] SkdPixelwise mode)
    {
        // Student ≈ teacher: the KL is a small difference, kept by float64 inside both kernels; the only difference left
        // is the last bits of exp/log before the final rounding to float32. Cross-entropy: the CPU kernel takes its exps in
        // float32 (CpuSkdPixelwise.GroupCrossEntropy32), so p_S − p_T carries ≈ 2e-7·p/|p_S − p_T| (≈ 1.2e-5 here, 1 % off):
        // held to the float32 bar.
        using var scope = NewDisposeScope();
        var t = (3 * Inputs.Randn([2, 19, 5, 7], salt: 23)).to(ScalarType.Float32);
        var s = Inputs.Perturbed(t, 0.01);
        Tensor F(Tensor x, Tensor y) => gpukd.functional.skd_pixelwise_loss(x, y, 2.0, mode);
        var cpu = On(KdBackend.Cpu, F, s, t);
        var ilgpu = On(KdBackend.Ilgpu, F, s, t);
        Assert.That(ilgpu.GradS.dtype, Is.EqualTo(ScalarType.Float32));
        SkdCases.AssertSame(ilgpu, cpu, mode == SkdPixelwise.CrossEntropy ? Tolerances.Float32Bar : 1e-6, $"skd_pixelwise_loss float32 Ilgpu vs Cpu {mode}");
    }

    [Test]
    public void Pairwise_node_kernel_matches_the_cpu_kernel_on_every_path([Values(true, false)] bool detachNorm, [Values(ScalarType.Float64, ScalarType.Float32)] ScalarType dtype)
    {
        long saved = SkdPairwiseLoss.ChunkBytes;
        try
        {
            // Default chunks: the batched few-node path (Auto at 3×3), one-piece D and Grams; 2 KB chunks: Grams
            // accumulated over several pixel chunks (node columns from p0 > 0) and row blocks of D.
            foreach (long chunk in new[] { saved, 2048L })
            foreach (var (b, cs, ct, h, w, pool) in new[] { (2, 3, 5, 6, 6, SkdPool.Max), (2, 3, 5, 7, 9, SkdPool.None), (1, 6, 2, 13, 11, SkdPool.None) })
            foreach (var path in new[] { SkdPairwisePath.Auto, SkdPairwisePath.Gram, SkdPairwisePath.Direct })
            {
                SkdPairwiseLoss.ChunkBytes = chunk;
                using var scope = NewDisposeScope();
                var s = Inputs.Randn([b, cs, h, w], dtype, salt: 24);
                var t = Inputs.Randn([b, ct, h, w], dtype, salt: 25);
                Tensor F(Tensor x, Tensor y) => gpukd.functional.SkdPairwise(x, y, 0.5, pool, detachNorm, path);
                long before = Interlocked.Read(ref SkdRuns.Nodes);
                var cpu = On(KdBackend.Cpu, F, s, t);
                Assert.That(Interlocked.Read(ref SkdRuns.Nodes), Is.EqualTo(before), "the CPU backend must not launch the ILGPU kernel");
                var ilgpu = On(KdBackend.Ilgpu, F, s, t);
                Assert.That(Interlocked.Read(ref SkdRuns.Nodes), Is.GreaterThan(before), "the ILGPU backend must launch the ILGPU kernel");
                // Same formulas and summation order (sqrt and division correctly rounded in both): float64 agrees to
                // round-off; float32 results are float64 computations rounded once.
                double tolerance = dtype == ScalarType.Float64 ? Tolerances.SameComputation : 1e-6;
                SkdCases.AssertSame(ilgpu, cpu, tolerance, $"skd_pairwise_loss Ilgpu vs Cpu [{b},{cs}|{ct},{h},{w}] {pool} {path} chunk={chunk} detach={detachNorm} {dtype}", 1e-12);
            }
        }
        finally { SkdPairwiseLoss.ChunkBytes = saved; }
    }

    [Test]
    public void Ilgpu_results_are_bit_identical_between_calls([Values(ScalarType.Float64, ScalarType.Float32)] ScalarType dtype)
    {
        // One thread per pixel (column), no atomics, host sums in a fixed order: repeated calls must not differ at all.
        using var scope = NewDisposeScope();
        var zs = Inputs.Randn([2, 19, 17, 15], dtype, salt: 26);
        var zt = Inputs.Randn([2, 19, 17, 15], dtype, salt: 27);
        var fs = Inputs.Randn([2, 8, 17, 15], dtype, salt: 28);
        var ft = Inputs.Randn([2, 5, 17, 15], dtype, salt: 29);
        foreach (var (name, f, s, t) in new (string, Func<Tensor, Tensor, Tensor>, Tensor, Tensor)[]
                 {
                     ("skd_pixelwise_loss", (x, y) => gpukd.functional.skd_pixelwise_loss(x, y, 2.0, SkdPixelwise.TemperatureKl), zs, zt),
                     ("skd_pairwise_loss full", (x, y) => gpukd.functional.skd_pairwise_loss(x, y, pool: SkdPool.None), fs, ft),
                     ("skd_pairwise_loss pooled", (x, y) => gpukd.functional.skd_pairwise_loss(x, y), fs, ft),
                 })
        {
            var a = On(KdBackend.Ilgpu, f, s, t);
            var b = On(KdBackend.Ilgpu, f, s, t);
            Assert.That(Tolerances.Identical(a.Value, b.Value) && Tolerances.Identical(a.GradS, b.GradS) && Tolerances.Identical(a.GradT, b.GradT),
                        $"{name} {dtype}: repeated Ilgpu calls differ");
        }
    }

    [Test]
    public void Kernel_log_is_within_a_few_ulp()
    {
        foreach (var x in new[] { 1e-300, 1e-8, 0.3, 0.7071, 0.9999999, 1.0, 1.0000001, 1.5, 2.0, 19.0, 1e10, 1e300 })
        {
            double got = KernelMath.Log(x), want = Math.Log(x);
            Assert.That(Math.Abs(got - want), Is.LessThanOrEqualTo(3 * 1.1e-16 * Math.Max(1e-300, Math.Abs(want))), $"log({x})");
            float f = KernelMath.Log((float)x), wantF = MathF.Log((float)x);
            if (float.IsFinite(wantF) && wantF != 0)
                Assert.That(Math.Abs(f - wantF), Is.LessThanOrEqualTo(4 * 6e-8 * Math.Abs(wantF)), $"logf({x})");
        }
        Assert.That(KernelMath.Log(1.0), Is.EqualTo(0.0));
        Assert.That(KernelMath.Log(0.0), Is.EqualTo(double.NegativeInfinity));
        Assert.That(double.IsNaN(KernelMath.Log(-1.0)) && double.IsNaN(KernelMath.Log(double.NaN)));
        Assert.That(KernelMath.Log(double.PositiveInfinity), Is.EqualTo(double.PositiveInfinity));
    }
}
