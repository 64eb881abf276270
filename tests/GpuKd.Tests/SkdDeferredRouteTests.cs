using GpuKd.Kernels.Programs;
using GpuKd.Ops;
using GpuKd.Reference;
using NUnit.Framework;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// The structured-KD pair-wise loss's deferred route (what CUDA tensors take, issue 13): every data-dependent choice is
/// made on the device, the direct form's precision fallback by kernels that read a device flag. Forced here with
/// <see cref="SkdPairwisePath.Deferred"/> on ILGPU's CPU accelerator, where the kernels really run; the same parity,
/// precision, gradient and NaN cases as the host-choice route. (The route needs a program device, so there is no CPU
/// fast-path fixture; <c>CudaPathTests</c> shows that it reads nothing on the host.)
/// </summary>
[TestFixture(KdBackend.Ilgpu)]
public sealed class SkdDeferredRouteTests(KdBackend backend) : BackendFixture(backend)
{
    static Tensor Deferred(Tensor s, Tensor t, double scale, SkdPool pool, bool detach)
        => gpukd.functional.SkdPairwise(s, t, scale, pool, detach, SkdPairwisePath.Deferred);

    [Test]
    public void Matches_the_reference([Values(true, false)] bool detachNorm)
    {
        // Random maps (the Gram form holds: flag clear), few pooled nodes (batched direct form), 1×1, Cs ≠ Ct both ways.
        using var _ = UseBackend();
        foreach (var (b, cs, ct, h, w) in new[] { (1, 4, 4, 1, 1), (2, 3, 5, 4, 4), (3, 2, 7, 5, 3), (2, 6, 3, 7, 9), (1, 5, 2, 13, 11) })
        foreach (var pool in new[] { SkdPool.Max, SkdPool.None })
        {
            using var scope = NewDisposeScope();
            var s = Inputs.Randn([b, cs, h, w], salt: 1);
            var t = Inputs.Randn([b, ct, h, w], salt: 2);
            var fused = SkdCases.ValueAndGrads((x, y) => Deferred(x, y, 0.5, pool, detachNorm), s, t);
            var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, 0.5, pool, detachNorm), s, t);
            SkdCases.AssertSame(fused, oracle, Tolerances.Float64Parity, Label("skd_pairwise_loss deferred", $"[{b},{cs}|{ct},{h},{w}]", pool, $"detach={detachNorm}"), SkdCases.ParityFloor);
        }
    }

    [Test]
    public void Offset_features_take_the_direct_fallback_on_the_device_and_hold_1e_10([Values(true, false)] bool detachNorm)
    {
        // The host route's Float64_offset_features_hold_1e_10 case: the Gram form is 1e-8..1e-6 off (asserted), the device
        // flag sends each image to the direct kernels, value and both gradients within 1e-10 — with several pixel chunks
        // and D column blocks (small ChunkBytes) and with one.
        using var _ = UseBackend();
        long saved = SkdPairwiseLoss.ChunkBytes;
        try
        {
            foreach (var chunk in new[] { SkdPairwiseLoss.DefaultChunkBytes, 512L })
            foreach (var (b, cs, ct, h, w, pool) in new[] { (2, 3, 5, 24, 24, SkdPool.Max), (1, 6, 3, 13, 11, SkdPool.None) })
            {
                SkdPairwiseLoss.ChunkBytes = chunk;
                using var scope = NewDisposeScope();
                var s = Inputs.Randn([b, cs, h, w], salt: 61) + 100;
                var t = Inputs.Randn([b, ct, h, w], salt: 62) + 100;
                string label = Label("skd_pairwise_loss deferred offset 100", $"[{b},{cs}|{ct},{h},{w}]", pool, $"detach={detachNorm}", $"chunk={chunk}");
                long direct = SkdRuns.Direct;
                var fused = SkdCases.ValueAndGrads((x, y) => Deferred(x, y, 0.34, pool, detachNorm), s, t);
                Assert.That(SkdPairwiseLoss.LastModes, Is.All.EqualTo(SkdImagePath.Chosen), label + ": path");
                Assert.That(SkdRuns.Direct, Is.GreaterThan(direct), label + ": the direct kernels ran");
                var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, 0.34, pool, detachNorm), s, t);
                SkdCases.AssertSame(fused, oracle, Tolerances.Float64Parity, label);
                var gram = SkdCases.ValueAndGrads((x, y) => gpukd.functional.SkdPairwise(x, y, 0.34, pool, detachNorm, SkdPairwisePath.Gram), s, t);
                Assert.That(Tolerances.RelErr(gram.Value, oracle.Value), Is.GreaterThan(Tolerances.Float64Parity), label + ": the Gram form would miss 1e-10");
            }
        }
        finally { SkdPairwiseLoss.ChunkBytes = saved; }
    }

    [Test]
    public void Student_equal_to_teacher_gives_exact_zeros()
    {
        // Loss 0 ≤ ρ·max: the flag is set and the direct form's entries are exact zeros, so are the gradients (the Gram
        // form alone leaves ~1e-17 noise there).
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var t = Inputs.Randn([2, 6, 7, 5], salt: 3);
        var (v, gs, gt) = SkdCases.ValueAndGrads((x, y) => Deferred(x, y, 0.5, SkdPool.None, false), t, t);
        Assert.That(v.item<double>(), Is.EqualTo(0.0));
        Assert.That(Tolerances.MaxAbs(gs) + Tolerances.MaxAbs(gt), Is.EqualTo(0.0));
    }

    [Test]
    public void Float32_student_close_to_teacher_meets_the_bar()
    {
        using var _ = UseBackend();
        foreach (var offset in new[] { 0.0, 100.0 })
        {
            using var scope = NewDisposeScope();
            var t = (Inputs.Randn([2, 8, 12, 12], salt: 8) + offset).to(ScalarType.Float32);
            var s = SkdCases.NearStudent(t, 0.01);
            var fused = SkdCases.ValueAndGrads((x, y) => Deferred(x, y, 0.5, SkdPool.None, true), s, t);
            Assert.That(fused.Value.dtype, Is.EqualTo(ScalarType.Float32));
            var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, 0.5, SkdPool.None), Inputs.Exact64(s), Inputs.Exact64(t));
            SkdCases.AssertSame(fused, oracle, Tolerances.Float32Bar, Label("skd_pairwise_loss deferred float32 ≈", $"offset={offset}"));
        }
    }

    [Test]
    public void Gradient_check_float64()
    {
        using var _ = UseBackend();
        foreach (var (s, t) in new[]
        {
            (Inputs.Randn([2, 3, 3, 3], salt: 5), Inputs.Randn([2, 2, 3, 3], salt: 6)),                          // flag clear
            (Inputs.Randn([1, 2, 3, 2], salt: 5) + 100, Inputs.Randn([1, 3, 3, 2], salt: 6) + 100),               // flag set
        })
        {
            using var scope = NewDisposeScope();
            GradCheck.Check(Label("skd_pairwise_loss deferred gradcheck", string.Join("x", s.shape)),
                            xs => Deferred(xs[0], xs[1], 0.5, SkdPool.None, false), s, t);
        }
    }

    [Test]
    public void A_nan_gives_a_nan_loss_and_gradient()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([2, 3, 5, 4], salt: 9);
        var t = Inputs.Randn([2, 4, 5, 4], salt: 10);
        s[1, 2, 3, 1] = tensor(double.NaN);
        var (v, gs, _) = SkdCases.ValueAndGrads((x, y) => Deferred(x, y, 0.5, SkdPool.None, true), s, t);
        Assert.That(double.IsNaN(v.item<double>()), "value");
        Assert.That(gs.isfinite().all().item<bool>(), Is.False, "student gradient");
    }
}
