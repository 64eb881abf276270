using GpuKd.Kernels.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace GpuKd.KernelBench;

/// <summary>
/// One benchmarked op: the sequence of ILGPU launches the library runs for it (see the matching
/// autograd function in <c>src/GpuKd/Ops</c>), over float32 inputs already resident on the device.
/// Host work that the library does between launches (μ of RKD distance, the IRG max, the final
/// ordered sums of the per-row partials) is done here too, so it is part of the timing; the
/// library's CPU-tensor staging copies are not (DESIGN §6). Teacher features never get a gradient.
/// </summary>
internal abstract class KernelOp : IDisposable
{
    /// <summary>F.normalize's / pdist's clamp, as in the library.</summary>
    protected const float Eps = 1e-12f;

    readonly List<MemoryBuffer1D<float, Stride1D.Dense>> _buffers = new();
    readonly Dictionary<long, float[]> _host = new();

    protected IlgpuDevice Device { get; }
    protected Accelerator Acc => Device.Accelerator;
    protected IlgpuLaunchers<float> K { get; }
    protected IlgpuLossLaunchers<float> L { get; }

    /// <summary>Batch and the student / teacher widths.</summary>
    protected int B { get; }
    protected int Ds { get; }
    protected int Dt { get; }

    /// <summary>Student and teacher features [B, Ds], [B, Dt] on the device.</summary>
    protected ArrayView<float> Xs { get; }
    protected ArrayView<float> Xt { get; }

    /// <summary>The loss value after <see cref="Forward"/> (losses only).</summary>
    public double Loss { get; protected set; }

    /// <summary>The relation output after <see cref="Forward"/> (relation ops only), and its length.</summary>
    public ArrayView<float> Output { get; protected set; }

    /// <summary>The student gradient [B, Ds] after <see cref="Backward"/> (losses only).</summary>
    public ArrayView<float> Grad { get; protected set; }

    protected KernelOp(IlgpuDevice device, float[] xs, float[] xt, int b, int ds, int dt)
    {
        Device = device;
        K = device.For<float>();
        L = IlgpuLossLaunchers<float>.For(device);
        B = b; Ds = ds; Dt = dt;
        Xs = Upload(xs);
        Xt = Upload(xt);
    }

    /// <summary>Whether the op is a loss (forward + backward) or a relation (forward only).</summary>
    public abstract bool IsLoss { get; }

    /// <summary>Launches the forward (and the host reductions it needs).</summary>
    public abstract void Forward();

    /// <summary>Launches the student's backward (after <see cref="Forward"/>).</summary>
    public virtual void Backward() => throw new NotSupportedException("relation ops are timed forward only");

    /// <summary>A device buffer of <paramref name="n"/> floats, freed with the op.</summary>
    protected ArrayView<float> Alloc(long n)
    {
        var buffer = Acc.Allocate1D<float>(Math.Max(1, n));
        _buffers.Add(buffer);
        return buffer.View.SubView(0, n);
    }

    ArrayView<float> Upload(float[] data)
    {
        var buffer = Acc.Allocate1D<float>(data.Length);
        buffer.CopyFromCPU(data);
        _buffers.Add(buffer);
        return buffer.View;
    }

    /// <summary>The first <paramref name="n"/> values of <paramref name="v"/> on the host (synchronises).</summary>
    public float[] Read(ArrayView<float> v, long n)
    {
        // Pinned: the copy hands ILGPU a raw address, which a compacting GC must not move.
        if (!_host.TryGetValue(n, out var a)) _host[n] = a = GC.AllocateUninitializedArray<float>(checked((int)n), pinned: true);
        Acc.Synchronize();
        ArrayView1D<float, Stride1D.Dense> dense = v.SubView(0, n);
        dense.CopyToCPU(ref a[0], n);
        return a;
    }

    /// <summary>Σ of the first n values in index order, in double: the library's final reduction.</summary>
    protected double HostSum(ArrayView<float> v, long n)
    {
        double s = 0;
        foreach (var e in Read(v, n)) s += e;
        return s;
    }

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
    }
}
