using GpuKd.Device;
using GpuKd.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using NUnit.Framework;

namespace GpuKd.Tests;

/// <summary>
/// The register-tiled product kernel (<see cref="MatMulTiledKernel"/>) launched directly on ILGPU's CPU accelerator,
/// against a float64 naive product of the same strided operands: ragged M/N/K (not multiples of the 16×16 block or
/// of the K slice), a transposed operand, batches, SymmetrizeA, float32 and float64, several K slices; and the
/// property the distance ops rely on: equal rows give bit-identical Gram entries (duplicates at distance exactly 0),
/// the same values the naive kernel gives (both add k in ascending order, one accumulator per output).
/// </summary>
public sealed class MatMulTiledKernelTests
{
    static IlgpuDevice Device => KdRuntime.IlgpuCpu();

    /// <summary>A case: the operands' strides in <see cref="MatMulDims"/> and the element counts they span.</summary>
    sealed record Case(string Name, MatMulDims Dims, int Batch, long ALength, long BLength);

    static MatMulDims Plain(int m, int n, int k, int batch) => new()
    {
        M = m, N = n, K = k, ARow = k, ACol = 1, BRow = n, BCol = 1,
        ABatch = (long)m * k, BBatch = (long)k * n, CBatch = (long)m * n,
    };

    static IEnumerable<Case> Cases()
    {
        // Gram X Xᵀ as the launchers set it up: B(k, j) = X[j, k] (k contiguous in both operands).
        yield return new("gram 19x7 batch 2", new MatMulDims { M = 19, N = 19, K = 7, ARow = 7, ACol = 1, BRow = 1, BCol = 7, ABatch = 133, BBatch = 133, CBatch = 361 }, 2, 266, 266);
        // Row-major A [13, 18] and B [18, 21] (j contiguous in B).
        yield return new("plain 13x21x18", Plain(13, 21, 18, 1), 1, 13 * 18, 18 * 21);
        // Transposed A: A(i, k) = At[k, i] with At [K, M] (i contiguous), B row-major; batch 3.
        yield return new("A transposed 17x5x33 batch 3", new MatMulDims { M = 17, N = 5, K = 33, ARow = 1, ACol = 17, BRow = 5, BCol = 1, ABatch = 17 * 33, BBatch = 33 * 5, CBatch = 17 * 5 }, 3, 3 * 17 * 33, 3 * 33 * 5);
        // Backward product (M + Mᵀ) X: square A [17, 17], X [17, 10]; batch 2.
        yield return new("symmetrised 17x10x17 batch 2", Plain(17, 10, 17, 2) with { SymmetrizeA = 1 }, 2, 2 * 17 * 17, 2 * 17 * 10);
        // Symmetrised with a transposed layout of A (the transpose read is then the k-contiguous one).
        yield return new("symmetrised, A transposed 20x3x20", new MatMulDims { M = 20, N = 3, K = 20, ARow = 1, ACol = 20, BRow = 3, BCol = 1, ABatch = 400, BBatch = 60, CBatch = 60, SymmetrizeA = 1 }, 1, 400, 60);
        // One row, one column: the smallest ragged block.
        yield return new("1x1x1", Plain(1, 1, 1, 1), 1, 1, 1);
    }

    static double[] Reference(double[] a, double[] b, MatMulDims d, int batch)
    {
        var c = new double[batch * d.M * d.N];
        for (int z = 0; z < batch; z++)
            for (int i = 0; i < d.M; i++)
                for (int j = 0; j < d.N; j++)
                {
                    double s = 0;
                    for (int k = 0; k < d.K; k++)
                    {
                        double av = a[z * d.ABatch + i * d.ARow + k * d.ACol];
                        if (d.SymmetrizeA != 0) av += a[z * d.ABatch + k * d.ARow + i * d.ACol];
                        s += av * b[z * d.BBatch + k * d.BRow + j * d.BCol];
                    }
                    c[z * d.CBatch + i * d.N + j] = s;
                }
        return c;
    }

    static double[] Random(long n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, (int)n).Select(_ => r.NextDouble() * 2 - 1).ToArray();
    }

    /// <summary>Runs the tiled (slice bk) or, with bk = 0, the naive kernel on float or double copies of a and b.</summary>
    static double[] Run<T>(double[] a, double[] b, MatMulDims d, int batch, int bk) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var acc = Device.Accelerator;
        lock (Device.Gate)
        {
            using var ba = acc.Allocate1D(a.Select(T.CreateTruncating).ToArray());
            using var bb = acc.Allocate1D(b.Select(T.CreateTruncating).ToArray());
            using var bc = acc.Allocate1D<T>(batch * d.M * d.N);
            bc.MemSetToZero();
            var k = Device.For<T>();
            if (bk > 0) k.MatMulTiled(ba.View, bb.View, bc.View, d, batch, 4, 4, bk);
            else k.MatMulNaive(ba.View, bb.View, bc.View, d, batch, Device.Tile);
            acc.Synchronize();
            return bc.GetAsArray1D().Select(double.CreateTruncating).ToArray();
        }
    }

    static void AssertClose(double[] got, double[] want, double rel, string what)
    {
        double scale = want.Max(Math.Abs), err = got.Zip(want, (g, w) => Math.Abs(g - w)).Max();
        Assert.That(err, Is.LessThanOrEqualTo(rel * Math.Max(scale, 1e-300)), $"{what}: max|Δ| {err:e2}, max|ref| {scale:e2}");
    }

    [Test]
    public void Matches_a_float64_naive_product([Values(1, 4, 16)] int bk)
    {
        foreach (var c in Cases())
        {
            var a = Random(c.ALength, 1);
            var b = Random(c.BLength, 2);
            var want = Reference(a, b, c.Dims, c.Batch);
            AssertClose(Run<double>(a, b, c.Dims, c.Batch, bk), want, 1e-14, $"{c.Name} float64 bk={bk}");
            AssertClose(Run<float>(a, b, c.Dims, c.Batch, bk), want, 2e-6, $"{c.Name} float32 bk={bk}");
        }
    }

    [Test]
    public void Is_bit_identical_to_the_naive_kernel_and_keeps_duplicate_rows_exact()
    {
        // X [21, 13] whose rows 0, 5, 16 and 20 are equal (in different 16-row blocks and micro-tile lanes).
        const int n = 21, d = 13;
        var x = Random(n * d, 3);
        foreach (int r in new[] { 5, 16, 20 }) Array.Copy(x, 0, x, r * d, d);
        var dims = new MatMulDims { M = n, N = n, K = d, ARow = d, ACol = 1, BRow = 1, BCol = d, ABatch = n * d, BBatch = n * d, CBatch = n * n };
        foreach (var (name, run) in new (string, Func<int, double[]>)[] { ("float32", bk => Run<float>(x, x, dims, 1, bk)), ("float64", bk => Run<double>(x, x, dims, 1, bk)) })
        {
            var tiled = run(4);
            Assert.That(tiled, Is.EqualTo(run(0)), $"{name}: tiled and naive kernels differ");
            foreach (int r in new[] { 5, 16, 20 })
            {
                Assert.That(tiled[r * n + r], Is.EqualTo(tiled[0]), $"{name}: G[{r},{r}] vs G[0,0]");
                Assert.That(tiled[r], Is.EqualTo(tiled[0]), $"{name}: G[0,{r}] vs G[0,0]");
                Assert.That(tiled[r * n], Is.EqualTo(tiled[0]), $"{name}: G[{r},0] vs G[0,0]");
                Assert.That(tiled[r * n + 7], Is.EqualTo(tiled[7]), $"{name}: G[{r},7] vs G[0,7]");
            }
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    Assert.That(tiled[i * n + j], Is.EqualTo(tiled[j * n + i]), $"{name}: G not exactly symmetric at ({i},{j})");
        }
    }

    [Test]
    public void The_gpu_entry_point_with_16x16_threads_matches_too()
    {
        // MatMul16 (the CUDA shape, sizes as constants) needs 256 threads per group: a CPU accelerator that allows them
        // (4-thread warps × 64 warps, one multiprocessor). M, N, K ragged against its 64×64 block and 16-slice.
        using var context = Context.Create(b => b.CPU(new ILGPU.Runtime.CPU.CPUDevice(4, 64, 1)));
        using var acc = context.CreateCPUAccelerator(0);
        var kernel = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, MatMulDims>(MatMulTiledKernel.MatMul16);
        int g = MatMulTiledKernel.Gpu, shared = g * (4 * g + 1) * 2;
        foreach (var c in new[]
        {
            new Case("gram 70x37", new MatMulDims { M = 70, N = 70, K = 37, ARow = 37, ACol = 1, BRow = 1, BCol = 37, ABatch = 70 * 37, BBatch = 70 * 37, CBatch = 4900 }, 1, 70 * 37, 70 * 37),
            new Case("symmetrised 66x9x66", Plain(66, 9, 66, 1) with { SymmetrizeA = 1 }, 1, 66 * 66, 66 * 9),
        })
        {
            var a = Random(c.ALength, 4);
            var b = Random(c.BLength, 5);
            var d = c.Dims;
            using var ba = acc.Allocate1D(a.Select(v => (float)v).ToArray());
            using var bb = acc.Allocate1D(b.Select(v => (float)v).ToArray());
            using var bc = acc.Allocate1D<float>(d.M * d.N);
            var grid = new Index3D((d.N + 4 * g - 1) / (4 * g), (d.M + 4 * g - 1) / (4 * g), 1);
            kernel(new KernelConfig(grid, new Index3D(g, g, 1), SharedMemoryConfig.RequestDynamic<float>(shared)), ba.View, bb.View, bc.View, d);
            acc.Synchronize();
            AssertClose(bc.GetAsArray1D().Select(v => (double)v).ToArray(), Reference(a, b, d, 1), 2e-6, $"MatMul16 {c.Name}");
        }
    }

    [Test]
    public void Rejects_a_group_the_kernel_cannot_load_with()
    {
        var d = Plain(4, 4, 4, 1);
        var k = Device.For<float>();
        using var buf = Device.Accelerator.Allocate1D<float>(16);
        Assert.That(() => k.MatMulTiled(buf.View, buf.View, buf.View, d, 1, 4, 4, 3), Throws.ArgumentException.With.Message.Contains("slice 3"));
        Assert.That(() => k.MatMulTiled(buf.View, buf.View, buf.View, d, 1, 2, 4, 4), Throws.ArgumentException.With.Message.Contains("multiples of 4"));
    }
}
