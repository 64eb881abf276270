using GpuKd.Device;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Launch.Cuda;
using CudaArchitecture = ILGPU.Runtime.Cuda.CudaArchitecture;
using CudaDevice = GpuKd.Kernels.Launch.Cuda.CudaDevice;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests.Launch;

/// <summary>
/// The library's CUDA path, run end to end against a recording driver (no GPU here): each op's forward and
/// backward as a TorchSharp user calls them, through the real binding, programs, PTX compile, argument packing
/// and sequences. What a GPU would be asked to do is then checked: only kernel launches, all on the caller's
/// stream, inside one context push/pop per autograd call, with view arguments that point into live tensors —
/// and no copy and no synchronisation at all.
/// </summary>
[NonParallelizable]
public class CudaPathTests
{
    const nint CallerStream = 0x5EED;

    public static IEnumerable<TestCaseData> Ops()
    {
        yield return Case("gram_matrix", x => gpukd.functional.gram_matrix(x[0]), 1);
        yield return Case("gram_matrix_normalize_rows", x => gpukd.functional.gram_matrix(x[0], normalize_rows: true), 1);
        yield return Case("cosine_similarity_matrix", x => gpukd.functional.cosine_similarity_matrix(x[0]), 1);
        yield return Case("pairwise_distances", x => gpukd.functional.pairwise_distances(x[0]), 1);
        yield return Case("triplet_angles", x => gpukd.functional.triplet_angles(x[0]), 1);
        yield return Case("rkd_distance_loss", x => gpukd.functional.rkd_distance_loss(x[0], x[1]), 2);
        yield return Case("rkd_angle_loss", x => gpukd.functional.rkd_angle_loss(x[0], x[1]), 2);
        yield return Case("sp_loss", x => gpukd.functional.sp_loss(x[0], x[1]), 2);
        yield return Case("cc_loss", x => gpukd.functional.cc_loss(x[0], x[1]), 2);
        yield return Case("cc_loss_rbf", x => gpukd.functional.cc_loss(x[0], x[1], CcKernel.Rbf), 2);
        yield return Case("cc_loss_bilinear_raw", x => gpukd.functional.cc_loss(x[0], x[1], CcKernel.BilinearRaw), 2);
        yield return Case("irg_edge_loss", x => gpukd.functional.irg_edge_loss(x[0], x[1]), 2);
        yield return Case("irg_edge_loss_max_detached", x => gpukd.functional.irg_edge_loss(x[0], x[1], differentiate_max: false), 2);
    }

    /// <summary>The losses whose float64 program differs from the float32 one (no widening: Grams in place).</summary>
    public static IEnumerable<TestCaseData> DoubleOps()
    {
        foreach (var (name, f) in new (string, Func<Tensor[], Tensor>)[]
                 {
                     ("sp_loss", x => gpukd.functional.sp_loss(x[0], x[1])),
                     ("cc_loss", x => gpukd.functional.cc_loss(x[0], x[1])),
                     ("cc_loss_bilinear_raw", x => gpukd.functional.cc_loss(x[0], x[1], CcKernel.BilinearRaw)),
                     ("irg_edge_loss", x => gpukd.functional.irg_edge_loss(x[0], x[1])),
                 })
            yield return new TestCaseData(name, f).SetName($"OnlyLaunchesInPlaceFloat64({name})");
    }

    [TestCaseSource(nameof(DoubleOps))]
    public void Float64OnlyLaunchesInPlace(string name, Func<Tensor[], Tensor> op)
        => LaunchesOnly(name, op, [randn(9, 6, dtype: ScalarType.Float64).requires_grad_(), randn(9, 5, dtype: ScalarType.Float64).requires_grad_()]);

    static TestCaseData Case(string name, Func<Tensor[], Tensor> f, int inputs) => new TestCaseData(name, f, inputs).SetName($"OnlyLaunchesInPlace({name})");

    /// <summary>The issue-16 losses, on their own input shapes (maps, logits).</summary>
    public static IEnumerable<TestCaseData> ShapedOps()
    {
        yield return Shaped("ickd_loss", x => gpukd.functional.ickd_loss(x[0], x[1]), [3, 4, 3, 5], [3, 4, 2, 3]);
        yield return Shaped("nst_loss", x => gpukd.functional.nst_loss(x[0], x[1]), [3, 4, 3, 3], [3, 5, 3, 3]);
        yield return Shaped("pkt_loss", x => gpukd.functional.pkt_loss(x[0], x[1]), [9, 6], [9, 5]);
        // Issue 13: the structured-KD pixel-wise loss, both terms and a per-pixel (None) upstream.
        yield return Shaped("skd_pixelwise_loss", x => gpukd.functional.skd_pixelwise_loss(x[0], x[1]), [2, 5, 3, 4], [2, 5, 3, 4]);
        yield return Shaped("skd_pixelwise_loss_kl_sum", x => gpukd.functional.skd_pixelwise_loss(x[0], x[1], 2.0, SkdPixelwise.TemperatureKl, nn.Reduction.Sum),
                            [3, 4, 1, 5], [3, 4, 1, 5]);
        yield return Shaped("skd_pixelwise_loss_none", x => gpukd.functional.skd_pixelwise_loss(x[0], x[1], reduction: nn.Reduction.None), [2, 3, 2, 3], [2, 3, 2, 3]);
        yield return Shaped("dist_loss", x => gpukd.functional.dist_loss(x[0], x[1], 1, 2, 3), [9, 7], [9, 7]);
        yield return Shaped("fsp_loss", x => gpukd.functional.fsp_loss([x[0], x[1]], [x[2], x[3]]), [3, 4, 3, 3], [3, 5, 3, 3], [3, 4, 2, 5], [3, 5, 2, 5]);
    }

    static TestCaseData Shaped(string name, Func<Tensor[], Tensor> f, params long[][] shapes)
        => new TestCaseData(name, f, shapes).SetName($"OnlyLaunchesInPlace({name})");

    [TestCaseSource(nameof(ShapedOps))]
    public void ShapedOnlyLaunchesInPlace(string name, Func<Tensor[], Tensor> op, long[][] shapes)
        => LaunchesOnly(name, op, [.. shapes.Select((s, k) => randn(s, dtype: ScalarType.Float32).requires_grad_())]);

    static (RecordingDriver Driver, CudaDevice Cuda, IDisposable Scope) Fake()
    {
        var driver = new RecordingDriver();
        var cuda = new CudaDevice(driver, 0, () => CallerStream);
        KdRuntime.Override.Value = new TorchDevice(cuda, new torch.Device(DeviceType.CPU));
        return (driver, cuda, new Reset(cuda));
    }

    sealed class Reset(CudaDevice cuda) : IDisposable
    {
        public void Dispose() { KdRuntime.Override.Value = null; cuda.Dispose(); }
    }

    [TestCaseSource(nameof(Ops))]
    public void OnlyLaunchesInPlace(string name, Func<Tensor[], Tensor> op, int inputs)
    {
        using var scope = NewDisposeScope();
        LaunchesOnly(name, op, new[] { randn(9, 6, dtype: ScalarType.Float32).requires_grad_(), randn(9, 5, dtype: ScalarType.Float32).requires_grad_() }[..inputs]);
    }

    static void LaunchesOnly(string name, Func<Tensor[], Tensor> op, Tensor[] xs)
    {
        var (driver, _, reset) = Fake();
        using var _ = reset;
        using var scope = NewDisposeScope();
        var y = op(xs);
        int forwardLaunches = driver.Launches.Count, forwardPushes = driver.Pushes;
        Assert.That(forwardPushes, Is.EqualTo(1), $"{name}: one launch sequence (context push) for the forward");
        y.sum().backward();

        Assert.Multiple(() =>
        {
            Assert.That(driver.Copies, Is.Zero, $"{name}: host copies");
            Assert.That(driver.Syncs, Is.Zero, $"{name}: synchronisations");
            Assert.That(driver.Pushes, Is.EqualTo(2), $"{name}: one sequence per autograd call (forward, backward)");
            Assert.That(driver.Pops, Is.EqualTo(driver.Pushes), $"{name}: every push popped");
            Assert.That(driver.MaxDepth, Is.EqualTo(1), $"{name}: no nested context pushes");
            Assert.That(forwardLaunches, Is.GreaterThan(0));
            Assert.That(driver.Launches.Count, Is.GreaterThan(forwardLaunches), $"{name}: the backward launches kernels");
            Assert.That(driver.Launches.Select(l => l.Stream).Distinct(), Is.EqualTo(new[] { CallerStream }), $"{name}: every launch on the caller's stream");
            Assert.That(driver.Allocs, Is.Zero, $"{name}: temporaries come from libtorch, not the driver");
            foreach (var x in xs) Assert.That(x.grad, Is.Not.Null, $"{name}: a gradient for every input");
        });
        // The first launch of every op reads the first input in place: its data pointer is a view argument.
        var first = driver.Launches[0];
        var entry = EntryOf(first.Entry);
        var xPtr = xs[0].dtype == ScalarType.Float64 ? xs[0].storage<double>().data_ptr() : xs[0].storage<float>().data_ptr();
        Assert.That(RecordingDriver.Views(first, entry).Select(v => v.Ptr), Does.Contain((long)xPtr), $"{name}: the input is read in place");
    }

    /// <summary>
    /// Every op of the tables above, forward and backward, on <b>meta</b> tensors (shapes, no values) through the CUDA
    /// path and the recording driver: libtorch throws on any host read of a meta tensor (<c>item()</c>, <c>.cpu()</c>,
    /// a data copy), so an op that runs to the end reads no value on the host — the libtorch half of "no
    /// synchronisation", which the driver cannot see.
    /// </summary>
    [TestCaseSource(nameof(MetaOps))]
    public void ReadsNoValueOnTheHost(string name, Func<Tensor[], Tensor> op, long[][] shapes, ScalarType dtype)
    {
        var driver = new RecordingDriver();
        using var cuda = new CudaDevice(driver, 0, () => CallerStream);
        var meta = new torch.Device(DeviceType.META);
        KdRuntime.Override.Value = new TorchDevice(cuda, meta);
        try
        {
            using var scope = NewDisposeScope();
            var xs = shapes.Select(s => empty(s, dtype: dtype, device: meta).requires_grad_()).ToArray();
            Assert.Throws(Is.InstanceOf<Exception>(), () => xs[0].sum().item<double>(), "a host read of a meta tensor throws (the test's teeth)");
            var y = op(xs);
            y.sum().backward();
            Assert.Multiple(() =>
            {
                Assert.That(y.device_type, Is.EqualTo(DeviceType.META), $"{name}: the result stays on the device");
                foreach (var x in xs) Assert.That(x.grad?.shape, Is.EqualTo(x.shape), $"{name}: a gradient for every input");
                Assert.That(driver.Copies + driver.Syncs, Is.Zero, $"{name}: copies and synchronisations");
                Assert.That(driver.Launches.Count, Is.GreaterThan(0), $"{name}: kernels launched");
            });
        }
        finally { KdRuntime.Override.Value = null; }
    }

    public static IEnumerable<TestCaseData> MetaOps()
    {
        foreach (var c in Ops())
        {
            int inputs = (int)c.Arguments[2]!;
            yield return Meta((string)c.Arguments[0]!, (Func<Tensor[], Tensor>)c.Arguments[1]!, new long[][] { [9, 6], [9, 5] }[..inputs], ScalarType.Float32);
        }
        foreach (var c in DoubleOps())
            yield return Meta((string)c.Arguments[0]!, (Func<Tensor[], Tensor>)c.Arguments[1]!, [[9, 6], [9, 5]], ScalarType.Float64);
        foreach (var c in ShapedOps())
            yield return Meta((string)c.Arguments[0]!, (Func<Tensor[], Tensor>)c.Arguments[1]!, (long[][])c.Arguments[2]!, ScalarType.Float32);
        yield return Meta("skd_pairwise_loss", x => gpukd.functional.skd_pairwise_loss(x[0], x[1], pool: SkdPool.None), [[2, 4, 6, 5], [2, 3, 6, 5]], ScalarType.Float32);
        yield return Meta("skd_pairwise_loss_pooled", x => gpukd.functional.skd_pairwise_loss(x[0], x[1]), [[2, 4, 6, 5], [2, 3, 6, 5]], ScalarType.Float64);

        static TestCaseData Meta(string name, Func<Tensor[], Tensor> f, long[][] shapes, ScalarType dtype)
            => new TestCaseData(name, f, shapes, dtype).SetName($"ReadsNoValueOnTheHost({name}, {dtype})");
    }

    /// <summary>The PTX entry of a recorded launch (entries are named after the kernel method).</summary>
    static PtxEntry EntryOf(string entryName)
    {
        foreach (var k in Kernels.Ilgpu.KernelCatalog.All().Where(k => k.Method.GetGenericArguments() is var g && (g.Length == 0 || g[0] == typeof(float))))
        {
            var ta = k.Method.GetGenericArguments();
            var id = ta.Length == 0 ? KernelId.Of(k.Method.DeclaringType!, k.Method.Name, typeof(float)) : KernelId.Of(k.Method.DeclaringType!, k.Method.Name, ta[0], ta[1..]);
            var e = PtxCache.Get(id, CudaArchitecture.SM_90).Entry;
            if (e.Name == entryName) return e;
        }
        throw new AssertionException($"no kernel has entry {entryName}");
    }

    /// <summary>The pair-wise loss: its node normalisation and its direct fallback are programs (one sequence each: the
    /// Grams between them are libtorch GEMMs on the device), so there are several sequences per autograd call — each launch
    /// on the caller's stream, none nested, and no copy or synchronisation through the driver. (That no value is read on
    /// the host through libtorch either: <see cref="PairwiseDeferredRouteReadsNoValueOnTheHost"/>.)</summary>
    [TestCase(SkdPool.None, TestName = "PairwiseNodesOnlyLaunchInPlace(full resolution)")]
    [TestCase(SkdPool.Max, TestName = "PairwiseNodesOnlyLaunchInPlace(pooled)")]
    public void PairwiseNodesOnlyLaunchInPlace(SkdPool pool)
    {
        var (driver, _, reset) = Fake();
        using var _ = reset;
        using var scope = NewDisposeScope();
        var s = randn(new long[] { 2, 4, 6, 5 }, dtype: ScalarType.Float32).requires_grad_();
        var t = randn(new long[] { 2, 3, 6, 5 }, dtype: ScalarType.Float32).requires_grad_();
        var loss = gpukd.functional.skd_pairwise_loss(s, t, pool: pool);
        int forward = driver.Launches.Count;
        var first = driver.Launches.FirstOrDefault();
        loss.backward();
        Assert.Multiple(() =>
        {
            Assert.That(forward, Is.GreaterThan(0), "the forward normalises its nodes on the device");
            Assert.That(driver.Launches.Count, Is.GreaterThan(forward), "the backward normalises its nodes on the device");
            Assert.That(driver.Launches.Select(l => l.Entry).Distinct(),
                        Is.SubsetOf(new[] { "Kernel_Nodes", "Kernel_DirectRows", "Kernel_DirectColumns", "Kernel_DirectHatGrad" }),
                        "only the node kernels and the direct fallback's launch");
            Assert.That(driver.Copies, Is.Zero, "host copies");
            Assert.That(driver.Syncs, Is.Zero, "synchronisations");
            Assert.That(driver.Allocs, Is.Zero, "temporaries come from libtorch, not the driver");
            Assert.That(driver.Pushes, Is.EqualTo(driver.Launches.Count(l => l.Entry is "Kernel_Nodes" or "Kernel_DirectRows" or "Kernel_DirectColumns")),
                        "one sequence per normalisation and per direct-fallback step");
            Assert.That(driver.Pops, Is.EqualTo(driver.Pushes));
            Assert.That(driver.MaxDepth, Is.EqualTo(1), "no nested context pushes");
            Assert.That(driver.Launches.Select(l => l.Stream).Distinct(), Is.EqualTo(new[] { CallerStream }));
            Assert.That(s.grad, Is.Not.Null);
            Assert.That(t.grad, Is.Not.Null);
        });
        if (pool == SkdPool.None)   // unpooled maps: the first normalisation reads the student's map in place
            Assert.That(RecordingDriver.Views(first!, EntryOf(first!.Entry)).Select(v => v.Ptr), Does.Contain((long)s.storage<float>().data_ptr()));
    }

    /// <summary>
    /// The pair-wise loss on CUDA takes the deferred route: every choice that depends on the data (keep the Gram form or
    /// fall back to the direct one) and every total stay on the device. Shown on <b>meta</b> tensors, which have shapes
    /// but no values: any host read (<c>item()</c>, <c>.cpu()</c>) throws on them, so running forward and backward to the
    /// end proves that none happens — and the recording driver, that the direct fallback's kernels are launched without
    /// a copy or a synchronisation. Shapes: the Gram form (flag on the device), few nodes (batched direct form), and the
    /// direct form by cost streamed over tiles (tiny chunks).
    /// </summary>
    [TestCase(2, 4, 5, 6, 5, 0L, true, TestName = "PairwiseDeferredRouteReadsNoValueOnTheHost(Gram form, held norm)")]
    [TestCase(2, 4, 5, 6, 5, 256L, false, TestName = "PairwiseDeferredRouteReadsNoValueOnTheHost(Gram form in chunks, norm differentiated)")]
    [TestCase(3, 8, 8, 2, 2, 0L, true, TestName = "PairwiseDeferredRouteReadsNoValueOnTheHost(few nodes, batched)")]
    [TestCase(2, 8, 8, 2, 2, 64L, false, TestName = "PairwiseDeferredRouteReadsNoValueOnTheHost(direct by cost, tiles)")]
    public void PairwiseDeferredRouteReadsNoValueOnTheHost(int b, int cs, int ct, int h, int w, long chunkBytes, bool detach)
    {
        var driver = new RecordingDriver();
        using var cuda = new CudaDevice(driver, 0, () => CallerStream);
        var meta = new torch.Device(DeviceType.META);
        KdRuntime.Override.Value = new TorchDevice(cuda, meta);
        long saved = GpuKd.Ops.SkdPairwiseLoss.ChunkBytes;
        try
        {
            if (chunkBytes > 0) GpuKd.Ops.SkdPairwiseLoss.ChunkBytes = chunkBytes;
            using var scope = NewDisposeScope();
            var s = randn(new long[] { b, cs, h, w }, dtype: ScalarType.Float32, device: meta).requires_grad_();
            var t = randn(new long[] { b, ct, h, w }, dtype: ScalarType.Float32, device: meta).requires_grad_();
            Assert.Throws(Is.InstanceOf<Exception>(), () => s.sum().item<float>(), "a host read of a meta tensor throws (the test's teeth)");
            Assert.Throws(Is.InstanceOf<Exception>(), () => GpuKd.Ops.SkdPairwiseLoss.Apply(s, t, detach, GpuKd.Ops.SkdPairwisePath.Gram),
                          "the host-choice route reads loss terms on the host");
            var loss = GpuKd.Ops.SkdPairwiseLoss.Apply(s, t, detach);
            loss.backward();
            Assert.Multiple(() =>
            {
                Assert.That(loss.device_type, Is.EqualTo(DeviceType.META));
                Assert.That(s.grad!.shape, Is.EqualTo(s.shape));
                Assert.That(t.grad!.shape, Is.EqualTo(t.shape));
                Assert.That(driver.Copies, Is.Zero, "host copies");
                Assert.That(driver.Syncs, Is.Zero, "synchronisations");
                Assert.That(driver.Pops, Is.EqualTo(driver.Pushes));
                Assert.That(driver.MaxDepth, Is.EqualTo(1));
                Assert.That(driver.Launches.Select(l => l.Stream).Distinct(), Is.EqualTo(new[] { CallerStream }));
                if (h * w > 4)   // the Gram form: the fallback's kernels are launched (they read the flag on the device)
                {
                    Assert.That(GpuKd.Ops.SkdPairwiseLoss.LastModes, Is.All.EqualTo(GpuKd.Ops.SkdImagePath.Chosen));
                    var entries = driver.Launches.Select(l => l.Entry).ToHashSet();
                    Assert.That(entries, Is.SupersetOf(new[] { "Kernel_DirectRows", "Kernel_DirectColumns", "Kernel_DirectHatGrad" }));
                }
            });
        }
        finally
        {
            GpuKd.Ops.SkdPairwiseLoss.ChunkBytes = saved;
            KdRuntime.Override.Value = null;
        }
    }

    [Test]
    public void RkdAngleLossIsOneSequencePerAutogradCall()
    {
        var (driver, _, reset) = Fake();
        using var _ = reset;
        using var scope = NewDisposeScope();
        var s = randn(17, 8, dtype: ScalarType.Float32).requires_grad_();
        var t = randn(17, 12, dtype: ScalarType.Float32);
        var loss = gpukd.functional.rkd_angle_loss(s, t);
        Assert.That(driver.Pushes, Is.EqualTo(1));
        int forward = driver.Launches.Count;
        loss.backward();
        Assert.That(driver.Pushes, Is.EqualTo(2));
        // Forward: per side centre (2) + Gram (1) + the widened float32 legs (squared norms, legs, diagonal: 3); the loss
        // pass, column sums, total. Backward (student only): three angle passes, one product, the upstream scale.
        Assert.That(forward, Is.EqualTo(2 * 6 + 3));
        Assert.That(driver.Launches.Count - forward, Is.EqualTo(5));
        Assert.That(driver.Copies + driver.Syncs, Is.Zero);
    }

    [Test]
    public void DriverErrorNamesTheKernelAndLeavesNoContextPushed()
    {
        var (driver, _, reset) = Fake();
        using var _ = reset;
        using var scope = NewDisposeScope();
        driver.FailLaunchWith = 700;
        var x = randn(5, 3, dtype: ScalarType.Float32);
        var e = Assert.Throws<CudaException>(() => gpukd.functional.pairwise_distances(x));
        Assert.That(e!.Message, Does.Contain("CUDA_ERROR_ILLEGAL_ADDRESS").And.Contain("RowKernels.ColumnMeans<Single>").And.Contain("cuLaunchKernel"));
        Assert.That(driver.Pops, Is.EqualTo(driver.Pushes), "the failed sequence popped its context");
        driver.FailLaunchWith = null;
        Assert.That(() => gpukd.functional.pairwise_distances(x), Throws.Nothing, "the device stays usable");
    }

    [Test]
    public void ViewsAreReadAtTheirOffsetAndStridedInputsAreMadeContiguousOnTheDevice()
    {
        var (driver, _, reset) = Fake();
        using var _ = reset;
        using var scope = NewDisposeScope();
        var storage = randn(12, 5, dtype: ScalarType.Float32);
        var view = storage.narrow(0, 3, 7);   // contiguous, storage offset 15 elements
        gpukd.functional.pairwise_distances(view);
        var first = driver.Launches[0];
        long expected = (long)storage.storage<float>().data_ptr() + 15 * sizeof(float);
        Assert.That(RecordingDriver.Views(first, EntryOf(first.Entry)).Select(v => v.Ptr), Does.Contain(expected), "the view is read in place, at its offset");
        Assert.That(RecordingDriver.Views(first, EntryOf(first.Entry)).Select(v => v.Length), Does.Contain(35L), "with its own length");

        driver.Launches.Clear();
        var strided = randn(5, 9, dtype: ScalarType.Float32).t();   // [9, 5], not contiguous
        gpukd.functional.pairwise_distances(strided);
        var read = RecordingDriver.Views(driver.Launches[0], EntryOf(driver.Launches[0].Entry)).First().Ptr;
        Assert.That(read, Is.Not.EqualTo((long)strided.storage<float>().data_ptr()), "a strided input is copied to a contiguous tensor first");
        Assert.That(driver.Copies + driver.Syncs, Is.Zero, "that copy is a libtorch op on the device, not a host copy");
    }

    [Test]
    public void AFailedModuleLoadIsReportedAndRetried()
    {
        var (driver, _, reset) = Fake();
        using var _ = reset;
        using var scope = NewDisposeScope();
        driver.FailNextModuleLoad = true;
        var x = randn(4, 3, dtype: ScalarType.Float64);
        var e = Assert.Throws<CudaException>(() => gpukd.functional.gram_matrix(x));
        Assert.That(e!.Message, Does.Contain("CUDA_ERROR_INVALID_PTX").And.Contain("cuModuleLoadData").And.Contain("MatMul"));
        Assert.That(() => gpukd.functional.gram_matrix(x), Throws.Nothing, "the next call loads the module again");
        Assert.That(driver.Pops, Is.EqualTo(driver.Pushes));
    }

    [Test]
    public void LaunchGeometryFollowsTheKernelKind()
    {
        var (driver, _, reset) = Fake();
        using var _ = reset;
        using var scope = NewDisposeScope();
        gpukd.functional.pairwise_distances(randn(70, 3, dtype: ScalarType.Float64));
        var forward = driver.Launches.Single(l => l.Entry == "Kernel_Forward");
        Assert.That(forward.Block, Is.EqualTo(new uint[] { CudaDevice.Block2X, CudaDevice.Block2Y, 1 }));
        Assert.That(forward.Grid, Is.EqualTo(new uint[] { 3, 9, 1 }), "⌈70/32⌉ × ⌈70/8⌉ covers the 70×70 extent");
        var means = driver.Launches.First(l => l.Entry == "Kernel_ColumnMeans");
        Assert.That(means.Block[0], Is.EqualTo(CudaDevice.Block1));
        var product = driver.Launches.Single(l => l.Entry.StartsWith("Kernel_MatMul"));
        Assert.That(product.SharedBytes, Is.GreaterThan(0), "the product's tiles are dynamic shared memory");
    }

    [Test]
    public void NoCudaStreamFunctionsHereMeansTheDefaultStream()
    {
        if (LibtorchStreams.Available)   // a CUDA libtorch: its current stream is read (a real one, or 0 for the legacy default)
            Assert.That(() => LibtorchStreams.Current(0), Throws.Nothing);
        else
            Assert.That((long)LibtorchStreams.Current(0), Is.Zero, "no c10_cuda exports: the legacy default stream");
    }
}
