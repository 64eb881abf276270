using GpuKd.Ops;
using GpuKd.Reference;
using NUnit.Framework;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>Structured-KD pair-wise loss: parity with the authors' N×N composition (float64), both evaluation paths
/// (channel Grams, direct), gradient checks, the student ≈ teacher precision case, Cs ≠ Ct, 1×1 and odd maps.
/// On the Ilgpu fixture the node normalisation runs as the ILGPU kernel (the float64 Grams stay libtorch GEMMs);
/// <see cref="SkdIlgpuKernelTests"/> checks the two backends against each other.</summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class SkdPairwiseLossTests(KdBackend backend) : BackendFixture(backend)
{
    /// <summary>(B, Cs, Ct, H, W): 1×1, odd and non-square maps, Cs ≠ Ct both ways, one channel.</summary>
    static readonly (int B, int Cs, int Ct, int H, int W)[] Shapes =
        [(1, 4, 4, 1, 1), (2, 3, 5, 4, 4), (3, 2, 7, 5, 3), (2, 6, 3, 7, 9), (2, 1, 1, 3, 3), (1, 5, 2, 13, 11)];

    static readonly SkdPool[] Pools = [SkdPool.Max, SkdPool.Average, SkdPool.None];

    [Test]
    public void Matches_the_reference_on_both_paths([Values(true, false)] bool detachNorm)
    {
        using var _ = UseBackend();
        foreach (var (b, cs, ct, h, w) in Shapes)
        foreach (var pool in Pools)
        foreach (var path in new[] { SkdPairwisePath.Auto, SkdPairwisePath.Gram, SkdPairwisePath.Direct })
        foreach (var scale in new[] { 0.5, 0.34 })
        {
            using var scope = NewDisposeScope();
            var s = Inputs.Randn([b, cs, h, w], salt: 1);
            var t = Inputs.Randn([b, ct, h, w], salt: 2);
            var label = Label("skd_pairwise_loss", $"[{b},{cs}|{ct},{h},{w}]", pool, path, $"scale={scale}", $"detach={detachNorm}");
            var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.SkdPairwise(x, y, scale, pool, detachNorm, path), s, t);
            var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, scale, pool, detachNorm), s, t);
            SkdCases.AssertSame(fused, oracle, Tolerances.Float64Parity, label, SkdCases.ParityFloor);
        }
    }

    [Test]
    public void Chunked_grams_and_row_blocks_of_d_match_the_reference([Values(true, false)] bool detachNorm)
    {
        // Tiny chunks: the Gram path accumulates over several pixel chunks and the per-image direct path streams
        // several row blocks of D (the code that runs at large N, here on small maps).
        using var _ = UseBackend();
        long saved = SkdPairwiseLoss.ChunkBytes;
        try
        {
            SkdPairwiseLoss.ChunkBytes = 2048;
            foreach (var (b, cs, ct, h, w) in new[] { (2, 3, 5, 7, 9), (1, 6, 2, 13, 11) })
            foreach (var path in new[] { SkdPairwisePath.Gram, SkdPairwisePath.Direct })
            {
                using var scope = NewDisposeScope();
                var s = Inputs.Randn([b, cs, h, w], salt: 13);
                var t = Inputs.Randn([b, ct, h, w], salt: 14);
                var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.SkdPairwise(x, y, 0.5, SkdPool.None, detachNorm, path), s, t);
                var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, 0.5, SkdPool.None, detachNorm), s, t);
                SkdCases.AssertSame(fused, oracle, Tolerances.Float64Parity, Label("skd_pairwise_loss chunked", $"[{b},{cs}|{ct},{h},{w}]", path, $"detach={detachNorm}"), SkdCases.ParityFloor);
            }
        }
        finally { SkdPairwiseLoss.ChunkBytes = saved; }
    }

    [Test]
    public void Teacher_without_gradient_many_channels()
    {
        // Ct = 150 > N, forced Gram path, the teacher without gradient (the training case).
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([2, 3, 6, 5], salt: 11).requires_grad_(true);
        var t = Inputs.Randn([2, 150, 6, 5], salt: 12);
        var value = gpukd.functional.SkdPairwise(s, t, 0.5, SkdPool.None, true, SkdPairwisePath.Gram);
        value.backward();
        var sr = s.detach().clone().requires_grad_(true);
        var expected = ReferenceSkd.PairwiseLoss(sr, t, pool: SkdPool.None);
        expected.backward();
        Tolerances.AssertClose(value, expected, Tolerances.Float64Parity, Label("skd_pairwise_loss", "Ct=150 value"));
        Tolerances.AssertClose(s.grad!, sr.grad!, Tolerances.Float64Parity, Label("skd_pairwise_loss", "Ct=150 gradient"));
    }

    [Test]
    public void Defaults_are_the_authors_max_pooling_with_ceil_mode()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        // 65×65 at scale 0.5: window 32, ceil mode → 3×3 nodes (the last row/column of windows holds one pixel).
        var s = Inputs.Randn([2, 3, 65, 65], salt: 3);
        var t = Inputs.Randn([2, 5, 65, 65], salt: 4);
        var pooled = nn.functional.max_pool2d(s, [32, 32], [32, 32], [0, 0], [1, 1], ceil_mode: true);
        Assert.That(pooled.shape, Is.EqualTo(new long[] { 2, 3, 3, 3 }));
        var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.skd_pairwise_loss(x, y), s, t);
        var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y), s, t);
        SkdCases.AssertSame(fused, oracle, Tolerances.Float64Parity, Label("skd_pairwise_loss", "65×65 defaults"));
        // Held norm: the reference with the norm detached differs from the one with the gradient through it.
        var through = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, detachNorm: false), s, t);
        Assert.That(Tolerances.RelErr(fused.GradS, through.GradS), Is.GreaterThan(1e-3), "the detached norm must matter");
    }

    [Test]
    public void Gradient_check_float64([Values(SkdPool.None, SkdPool.Average, SkdPool.Max)] SkdPool pool)
    {
        using var _ = UseBackend();
        foreach (var (b, cs, ct, h, w) in new[] { (2, 3, 2, 3, 3), (1, 1, 2, 2, 3), (2, 4, 3, 5, 4) })
        foreach (var path in new[] { SkdPairwisePath.Gram, SkdPairwisePath.Direct })
        {
            using var scope = NewDisposeScope();
            var s = Inputs.Randn([b, cs, h, w], salt: 5);
            var t = Inputs.Randn([b, ct, h, w], salt: 6);
            // The gradient through the norm is the true derivative (the detached one is checked against the oracle).
            GradCheck.Check(Label("skd_pairwise_loss gradcheck", $"[{b},{cs}|{ct},{h},{w}]", pool, path),
                            xs => gpukd.functional.SkdPairwise(xs[0], xs[1], 0.5, pool, false, path), s, t);
        }
    }

    [Test]
    public void Student_close_to_teacher_float32_meets_the_bar([Values(SkdPool.None, SkdPool.Max)] SkdPool pool)
    {
        using var _ = UseBackend();
        foreach (var (b, c, h, w, offset) in new[] { (2, 8, 16, 16, 0.0), (2, 16, 9, 7, 0.0), (2, 8, 12, 12, 100.0) })
        foreach (var path in offset == 0 ? new[] { SkdPairwisePath.Gram, SkdPairwisePath.Direct, SkdPairwisePath.Auto } : new[] { SkdPairwisePath.Auto, SkdPairwisePath.Direct })
        {
            // With a large common offset every node is nearly parallel: the relations differ by ~1e-7 and even the
            // float64 Gram form cancels (forced Gram: 2e-4..2e-3 relative), which Auto detects and falls back from.
            using var scope = NewDisposeScope();
            var t = (Inputs.Randn([b, c, h, w], salt: 8) + offset).to(ScalarType.Float32);
            var s = SkdCases.NearStudent(t, 0.01);       // Cs = 2·Ct, A_S ≈ A_T to 1 %
            var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.SkdPairwise(x, y, 0.5, pool, true, path), s, t);
            var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, 0.5, pool), Inputs.Exact64(s), Inputs.Exact64(t));
            SkdCases.AssertSame(fused, oracle, Tolerances.Float32Bar, Label("skd_pairwise_loss float32 ≈", $"[{b},{2 * c}|{c},{h},{w}]", pool, path, $"offset={offset}"));
        }
    }

    [Test]
    public void Float64_offset_features_hold_1e_10([Values(true, false)] bool detachNorm)
    {
        // Features sharing a common offset of 100 (spread 1, at the nodes): the nodes are nearly parallel, the loss is ~1e-9 of its
        // Gram terms, and the float64 Gram form is 1e-8..1e-7 off (asserted below: the routing is what saves it). Auto
        // sends those images to the streamed direct form: value and both gradients within 1e-10 of the float64 N×N oracle,
        // pooled (3×3 nodes at 3 and 5 channels: the Gram form by cost) and full resolution, with one and several tiles.
        using var _ = UseBackend();
        long saved = SkdPairwiseLoss.ChunkBytes;
        try
        {
            foreach (var chunk in new[] { SkdPairwiseLoss.DefaultChunkBytes, 2048L })
            foreach (var (b, cs, ct, h, w, pool) in new[] { (2, 3, 5, 24, 24, SkdPool.Max), (2, 3, 5, 24, 24, SkdPool.Average), (2, 8, 8, 12, 12, SkdPool.None), (1, 6, 3, 13, 11, SkdPool.None) })
            {
                SkdPairwiseLoss.ChunkBytes = chunk;
                using var scope = NewDisposeScope();
                // Average pooling over 8×8 windows divides the spread by 8: spread 8 keeps the nodes at mean 100, spread 1
                // (at spread 1/8 the float64 oracle's own gradient is only ~4e-10 accurate).
                double spread = pool == SkdPool.Average ? 8 : 1;
                var s = spread * Inputs.Randn([b, cs, h, w], salt: 61) + 100;
                var t = spread * Inputs.Randn([b, ct, h, w], salt: 62) + 100;
                var label = Label("skd_pairwise_loss float64 offset 100", $"[{b},{cs}|{ct},{h},{w}]", pool, $"detach={detachNorm}", $"chunk={chunk}");
                var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.SkdPairwise(x, y, 0.34, pool, detachNorm, SkdPairwisePath.Auto), s, t);
                var modes = SkdPairwiseLoss.LastModes;
                var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, 0.34, pool, detachNorm), s, t);
                Assert.That(modes, Is.All.EqualTo(SkdImagePath.Direct), label + ": path");
                SkdCases.AssertSame(fused, oracle, Tolerances.Float64Parity, label);
                var gram = gpukd.functional.SkdPairwise(s, t, 0.34, pool, detachNorm, SkdPairwisePath.Gram);
                TestContext.Out.WriteLine($"{label}: streamed direct {Tolerances.RelErr(fused.Value, oracle.Value):E1}, Gram form {Tolerances.RelErr(gram, oracle.Value):E1}");
                Assert.That(Tolerances.RelErr(gram, oracle.Value), Is.GreaterThan(Tolerances.Float64Parity), label + ": the Gram form would miss 1e-10");
            }
        }
        finally { SkdPairwiseLoss.ChunkBytes = saved; }
    }

    [Test]
    public void Float64_keeps_the_gram_form_where_it_holds_1e_10()
    {
        // Random maps (ρ ≈ 0.05–1.5) and a student 10 % off the teacher (ρ ≈ 2e-2) stay on the Gram form; 0.3 % off
        // (ρ below 1e-4) takes the streamed direct form. Each within 1e-10 of the oracle.
        using var _ = UseBackend();
        var t = Inputs.Randn([2, 6, 12, 10], salt: 63);
        foreach (var (name, s, expected) in new[]
        {
            ("random", Inputs.Randn([2, 9, 12, 10], salt: 64), SkdImagePath.Gram64),
            ("10 % off", SkdCases.NearStudent(t, 0.1), SkdImagePath.Gram64),
            ("0.3 % off", SkdCases.NearStudent(t, 0.003), SkdImagePath.Direct),
        })
        {
            using var scope = NewDisposeScope();
            var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.SkdPairwise(x, y, 0.5, SkdPool.None, true, SkdPairwisePath.Auto), s, t);
            var modes = SkdPairwiseLoss.LastModes;
            var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, 0.5, SkdPool.None), s, t);
            Assert.That(modes, Is.All.EqualTo(expected), Label("skd_pairwise_loss float64", name, "path"));
            SkdCases.AssertSame(fused, oracle, Tolerances.Float64Parity, Label("skd_pairwise_loss float64", name));
        }
    }

    [Test]
    public void Streamed_direct_tiles_match_the_reference_and_pass_gradcheck([Values(true, false)] bool detachNorm)
    {
        // Every image forced through the streamed tiles (the precision fallback), with tiles of 11 nodes (ragged last tile).
        using var _ = UseBackend();
        long saved = SkdPairwiseLoss.ChunkBytes;
        try
        {
            SkdPairwiseLoss.ChunkBytes = 2048;
            foreach (var (b, cs, ct, h, w) in new[] { (2, 3, 5, 7, 9), (1, 6, 2, 13, 11), (3, 1, 4, 2, 3) })
            {
                using var scope = NewDisposeScope();
                var s = Inputs.Randn([b, cs, h, w], salt: 65);
                var t = Inputs.Randn([b, ct, h, w], salt: 66);
                var label = Label("skd_pairwise_loss streamed tiles", $"[{b},{cs}|{ct},{h},{w}]", $"detach={detachNorm}");
                var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.SkdPairwise(x, y, 0.5, SkdPool.None, detachNorm, SkdPairwisePath.DirectTiles), s, t);
                Assert.That(SkdPairwiseLoss.LastModes, Is.All.EqualTo(SkdImagePath.Direct), label + ": path");
                var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, 0.5, SkdPool.None, detachNorm), s, t);
                SkdCases.AssertSame(fused, oracle, Tolerances.Float64Parity, label, SkdCases.ParityFloor);
                if (!detachNorm && b * cs * h * w <= 80)
                    GradCheck.Check(label + " gradcheck", xs => gpukd.functional.SkdPairwise(xs[0], xs[1], 0.5, SkdPool.None, false, SkdPairwisePath.DirectTiles), s, t);
            }
        }
        finally { SkdPairwiseLoss.ChunkBytes = saved; }
    }

    [Test]
    public void Float32_single_precision_grams_would_fail_the_bar()
    {
        // Why the fused op accumulates in float64: the same Gram identity in float32 misses the bar by orders of magnitude.
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var t = Inputs.Randn([2, 32, 32, 32], ScalarType.Float32, salt: 9);
        var s = SkdCases.NearStudent(t, 0.01);
        Tensor Hat(Tensor x) { var f = x.reshape(x.shape[0], x.shape[1], -1); return f / (f.square().sum(1, keepdim: true).sqrt() + 1e-8); }
        var sh = Hat(s); var th = Hat(t);
        var f32 = (sh.bmm(sh.transpose(1, 2)).square().sum() - 2 * sh.bmm(th.transpose(1, 2)).square().sum() + th.bmm(th.transpose(1, 2)).square().sum()) / (1024.0 * 1024 * 2);
        var oracle = ReferenceSkd.PairwiseLoss(Inputs.Exact64(s), Inputs.Exact64(t), pool: SkdPool.None);
        var fused = gpukd.functional.skd_pairwise_loss(s, t, pool: SkdPool.None);
        TestContext.Out.WriteLine($"float32 Gram identity rel. error {Tolerances.RelErr(f32, oracle):E2}, fused {Tolerances.RelErr(fused, oracle):E2}");
        Assert.That(Tolerances.RelErr(f32, oracle), Is.GreaterThan(Tolerances.Float32Bar), "float32 Grams");
        Assert.That(Tolerances.RelErr(fused, oracle), Is.LessThan(1e-6), "fused");
    }

    [Test]
    public void Float32_grams_are_kept_only_where_they_meet_the_bar([Values(true, false)] bool detachNorm)
    {
        // float32 inputs first take float32 Grams; they are kept when the loss is ≥ 1 % of its largest term (here: random
        // maps and a student 10 % off the teacher's relations) and redone in float64 below that (3 % and 1 % off), so every
        // case is within the float32 bar of the float64 N×N oracle, and the float64 fallbacks within 1e-6.
        using var _ = UseBackend();
        var t = Inputs.Randn([2, 24, 24, 20], ScalarType.Float32, salt: 21);
        var cases = new (string Name, Tensor S, Tensor T, SkdImagePath Expected)[]
        {
            ("random", Inputs.Randn([2, 16, 24, 20], ScalarType.Float32, salt: 22), t, SkdImagePath.Gram32),
            ("random, 8 channels", Inputs.Randn([2, 8, 24, 20], ScalarType.Float32, salt: 22), t, SkdImagePath.Gram64),
            ("relu, Cs > Ct", Inputs.Randn([2, 40, 24, 20], ScalarType.Float32, salt: 23).relu(), t.relu(), SkdImagePath.Gram32),
            ("10 % off", SkdCases.NearStudent(t, 0.1), t, SkdImagePath.Gram32),
            ("3 % off", SkdCases.NearStudent(t, 0.03), t, SkdImagePath.Gram64),
            ("1 % off", SkdCases.NearStudent(t, 0.01), t, SkdImagePath.Gram64),
        };
        AssertPathsAndAccuracy("float32 Grams", cases, detachNorm);
    }

    [Test]
    public void Few_nodes_take_float32_products_only_where_they_meet_the_bar([Values(true, false)] bool detachNorm)
    {
        // The batched direct path (a few pooled nodes): float32 products for float32 inputs when every image's loss is
        // ≥ 1 % of its larger ‖A‖², float64 otherwise.
        using var _ = UseBackend();
        var t = Inputs.Randn([3, 24, 3, 3], ScalarType.Float32, salt: 27);
        var cases = new (string Name, Tensor S, Tensor T, SkdImagePath Expected)[]
        {
            ("random", Inputs.Randn([3, 40, 3, 3], ScalarType.Float32, salt: 28), t, SkdImagePath.Direct32),
            ("relu", Inputs.Randn([3, 40, 3, 3], ScalarType.Float32, salt: 29).relu(), t.relu(), SkdImagePath.Direct32),
            ("1 % off", SkdCases.NearStudent(t, 0.01), t, SkdImagePath.Direct),
        };
        AssertPathsAndAccuracy("few nodes", cases, detachNorm);
    }

    /// <summary>Each case takes the expected path on every image, and is within a tenth of the float32 bar of the float64
    /// N×N oracle on a float32 path, within 1e-6 on a float64 one.</summary>
    void AssertPathsAndAccuracy(string what, (string Name, Tensor S, Tensor T, SkdImagePath Expected)[] cases, bool detachNorm)
    {
        foreach (var (name, s, t, expected) in cases)
        {
            using var scope = NewDisposeScope();
            var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.SkdPairwise(x, y, 0.5, SkdPool.None, detachNorm, SkdPairwisePath.Auto), s, t);
            var modes = SkdPairwiseLoss.LastModes;
            var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, 0.5, SkdPool.None, detachNorm), Inputs.Exact64(s), Inputs.Exact64(t));
            var label = Label("skd_pairwise_loss " + what, name, $"detach={detachNorm}");
            Assert.That(modes, Is.EqualTo(Enumerable.Repeat(expected, (int)s.shape[0]).ToArray()), label + ": path");
            bool single = expected is SkdImagePath.Gram32 or SkdImagePath.Direct32;
            SkdCases.AssertSame(fused, oracle, single ? Tolerances.Float32Bar / 10 : 1e-6, label);
        }
    }

    [Test]
    public void Forced_float32_grams_lose_the_answer_when_the_relations_agree()
    {
        // Why the gate exists: float32 Grams forced on a student 0.1 % off the teacher miss the bar; Auto does not.
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var t = Inputs.Randn([1, 32, 32, 32], ScalarType.Float32, salt: 24);
        var s = SkdCases.NearStudent(t, 0.001);
        var oracle = ReferenceSkd.PairwiseLoss(Inputs.Exact64(s), Inputs.Exact64(t), pool: SkdPool.None);
        var forced = gpukd.functional.SkdPairwise(s, t, 0.5, SkdPool.None, true, SkdPairwisePath.Gram32);
        var auto = gpukd.functional.SkdPairwise(s, t, 0.5, SkdPool.None, true, SkdPairwisePath.Auto);
        TestContext.Out.WriteLine($"forced float32 Grams rel. error {Tolerances.RelErr(forced, oracle):E2}, auto {Tolerances.RelErr(auto, oracle):E2}");
        Assert.That(Tolerances.RelErr(forced, oracle), Is.GreaterThan(Tolerances.Float32Bar), "forced float32 Grams");
        Assert.That(Tolerances.RelErr(auto, oracle), Is.LessThan(1e-6), "auto");
    }

    [Test]
    public void Chunked_float32_grams_match_the_reference()
    {
        using var _ = UseBackend();
        long saved = SkdPairwiseLoss.ChunkBytes;
        try
        {
            SkdPairwiseLoss.ChunkBytes = 512;   // 16 pixels per chunk at 8 channels: several chunks, a ragged last one
            using var scope = NewDisposeScope();
            var s = Inputs.Randn([2, 3, 7, 9], ScalarType.Float32, salt: 25).requires_grad_(true);
            var t = Inputs.Randn([2, 5, 7, 9], ScalarType.Float32, salt: 26).requires_grad_(true);
            var fused = SkdCases.ValueAndGrads((x, y) => gpukd.functional.SkdPairwise(x, y, 0.5, SkdPool.None, false, SkdPairwisePath.Gram32), s, t);
            var oracle = SkdCases.ValueAndGrads((x, y) => ReferenceSkd.PairwiseLoss(x, y, 0.5, SkdPool.None, false), Inputs.Exact64(s), Inputs.Exact64(t));
            SkdCases.AssertSame(fused, oracle, Tolerances.Float32Bar / 10, Label("skd_pairwise_loss float32 Grams", "chunked, both gradients"));
        }
        finally { SkdPairwiseLoss.ChunkBytes = saved; }
    }

    [Test]
    public void Identical_relations_give_zero_and_a_zero_gradient()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var t = Inputs.Randn([2, 3, 6, 5], salt: 10);
        var s = SkdCases.NearStudent(t, 0);
        var (value, gs, _) = SkdCases.ValueAndGrads((x, y) => gpukd.functional.skd_pairwise_loss(x, y, pool: SkdPool.None), s, t);
        Assert.That(value.item<double>(), Is.GreaterThanOrEqualTo(0).And.LessThan(1e-28));
        Assert.That(Tolerances.MaxAbs(gs), Is.LessThan(1e-14));
    }

    [Test]
    public void Only_inputs_that_require_grad_get_one()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([2, 3, 4, 4]).requires_grad_(true);
        var t = Inputs.Randn([2, 5, 4, 4], salt: 1);
        gpukd.functional.skd_pairwise_loss(s, t, pool: SkdPool.None).backward();
        Assert.That(s.grad, Is.Not.Null);
        Assert.That(t.grad, Is.Null);
        var none = gpukd.functional.skd_pairwise_loss(s.detach(), t);
        Assert.That(none.requires_grad, Is.False);
    }

    [Test]
    public void Chooses_the_cheaper_path()
    {
        Assert.That(SkdPairwiseLoss.UseDirect(9, 128, 512), Is.True, "3×3 pooled nodes");
        Assert.That(SkdPairwiseLoss.UseDirect(64 * 64, 128, 512), Is.False, "64×64 full resolution");
    }

    [Test]
    public void Bad_inputs_name_the_argument()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([2, 3, 4, 4]);
        var t = Inputs.Randn([2, 5, 4, 4]);
        Assert.That(() => gpukd.functional.skd_pairwise_loss(s.reshape(2, 3, 16), t), Throws.ArgumentException.With.Property("ParamName").EqualTo("student_feat"));
        Assert.That(() => gpukd.functional.skd_pairwise_loss(s, Inputs.Randn([2, 5, 4, 3])), Throws.ArgumentException.With.Property("ParamName").EqualTo("teacher_feat"));
        Assert.That(() => gpukd.functional.skd_pairwise_loss(s, Inputs.Randn([3, 5, 4, 4])), Throws.ArgumentException.With.Property("ParamName").EqualTo("teacher_feat"));
        Assert.That(() => gpukd.functional.skd_pairwise_loss(s, t.to(ScalarType.Float32)), Throws.ArgumentException.With.Property("ParamName").EqualTo("teacher_feat"));
        Assert.That(() => gpukd.functional.skd_pairwise_loss(s, t, scale: 0), Throws.ArgumentException.With.Property("ParamName").EqualTo("scale"));
        Assert.That(() => gpukd.functional.skd_pairwise_loss(s, t, scale: 1.5), Throws.ArgumentException.With.Property("ParamName").EqualTo("scale"));
        Assert.That(() => gpukd.functional.skd_pairwise_loss(s, t, pool: (SkdPool)7), Throws.ArgumentException.With.Property("ParamName").EqualTo("pool"));
    }
}
