using GpuKd.Kernels.Cpu;
using GpuKd.Ops;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The structured-KD pair-wise loss's float32 paths (float32 channel Grams; float32 products for a few pooled nodes)
/// at channel counts where they run (≥ <see cref="SkdPairwiseLoss.MinFloat32Channels"/>; the table-driven
/// <see cref="RepeatabilityTests"/> use 4–6 channels, which take float64): values and both gradients bit-identical with
/// libtorch and the CPU kernel loops on 1 vs 2 threads, and the path taken is the float32 one.
/// </summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class SkdRepeatabilityTests(KdBackend backend) : BackendFixture(backend)
{
    [TestCase(SkdPool.None, 20, 20)]
    [TestCase(SkdPool.Max, 9, 9)]
    public void Float32_paths_give_the_same_bits_on_one_or_two_threads(SkdPool pool, int h, int w)
    {
        var expected = pool == SkdPool.None ? SkdImagePath.Gram32 : SkdImagePath.Direct32;   // 20×20 nodes; 3×3 pooled
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([3, 24, h, w], ScalarType.Float32, salt: 41);
        var t = Inputs.Randn([3, 40, h, w], ScalarType.Float32, salt: 42);
        int threads = get_num_threads();
        try
        {
            set_num_threads(1);
            (Tensor Value, Tensor GradS, Tensor GradT) one;
            using (CpuParallel.Force(1)) one = SkdCases.ValueAndGrads((x, y) => gpukd.functional.skd_pairwise_loss(x, y, pool: pool), s, t);
            Assert.That(SkdPairwiseLoss.LastModes, Is.All.EqualTo(expected), "path");
            set_num_threads(2);
            (Tensor Value, Tensor GradS, Tensor GradT) two;
            using (CpuParallel.Force(2)) two = SkdCases.ValueAndGrads((x, y) => gpukd.functional.skd_pairwise_loss(x, y, pool: pool), s, t);
            Assert.That(Tolerances.Identical(one.Value, two.Value), Label("skd_pairwise_loss", pool, "value, 1 vs 2 threads"));
            Assert.That(Tolerances.Identical(one.GradS, two.GradS), Label("skd_pairwise_loss", pool, "student gradient, 1 vs 2 threads"));
            Assert.That(Tolerances.Identical(one.GradT, two.GradT), Label("skd_pairwise_loss", pool, "teacher gradient, 1 vs 2 threads"));
        }
        finally { set_num_threads(threads); }
    }

    [Test]
    public void Pixelwise_gives_the_same_bits_on_one_or_two_threads([Values] SkdPixelwise mode,
        [Values(ScalarType.Float32, ScalarType.Float64)] ScalarType dtype)
    {
        // 3 images of 23×29 pixels: two 512-pixel work units per image, a ragged last group; both gradients.
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = (3 * Inputs.Randn([3, 19, 23, 29], salt: 43)).to(dtype);
        var t = (3 * Inputs.Randn([3, 19, 23, 29], salt: 44)).to(dtype);
        Tensor F(Tensor x, Tensor y) => gpukd.functional.skd_pixelwise_loss(x, y, 1.5, mode);
        int threads = get_num_threads();
        try
        {
            set_num_threads(1);
            (Tensor Value, Tensor GradS, Tensor GradT) one;
            using (CpuParallel.Force(1)) one = SkdCases.ValueAndGrads(F, s, t);
            set_num_threads(2);
            (Tensor Value, Tensor GradS, Tensor GradT) two;
            using (CpuParallel.Force(2)) two = SkdCases.ValueAndGrads(F, s, t);
            var again = SkdCases.ValueAndGrads(F, s, t);
            Assert.That(Tolerances.Identical(one.Value, two.Value) && Tolerances.Identical(one.Value, again.Value), Label("skd_pixelwise_loss", mode, dtype, "value"));
            Assert.That(Tolerances.Identical(one.GradS, two.GradS) && Tolerances.Identical(one.GradS, again.GradS), Label("skd_pixelwise_loss", mode, dtype, "student gradient"));
            Assert.That(Tolerances.Identical(one.GradT, two.GradT) && Tolerances.Identical(one.GradT, again.GradT), Label("skd_pixelwise_loss", mode, dtype, "teacher gradient"));
        }
        finally { set_num_threads(threads); }
    }
}
