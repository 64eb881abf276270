using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Launch;
using ILGPU;
using ILGPU.Runtime;

namespace GpuKd.KernelBench;

/// <summary>
/// One benchmarked op: the sequence of ILGPU launches the library runs for it (see the matching
/// autograd function in <c>src/GpuKd/Ops</c>), over float32 inputs already resident on the device: the ops run the
/// library's own programs (<c>kernels/Programs</c>), whose scalars (μ, maxima, loss totals) stay on the device; a
/// loss is read back once per forward. Teacher features never get a gradient.
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

    /// <summary>The op programs' device over this op's buffers (<c>kernels/Programs</c>: the sequences the library runs).</summary>
    protected IlgpuAcceleratorDevice P { get; }

    /// <summary>The buffer of a view of this op's memory, for the programs. ILGPU 1.5.3 keeps a view's buffer and
    /// offset internal, so they are read by reflection (harness only; the library binds tensors, never views).</summary>
    protected static Buf<float> Buf(ArrayView<float> v)
        => new((nint)((MemoryBuffer)ViewBuffer.GetValue(v)!).NativePtr + (nint)((long)ViewIndex.GetValue(v)! * sizeof(float)), v.Length);

    static readonly System.Reflection.FieldInfo ViewBuffer = Field("<Buffer>k__BackingField"), ViewIndex = Field("<Index>k__BackingField");

    static System.Reflection.FieldInfo Field(string name) => typeof(ArrayView<float>).GetField(name, System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)
        ?? throw new InvalidOperationException($"ILGPU ArrayView has no field {name} (ILGPU version changed?)");

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
        P = new IlgpuAcceleratorDevice(device.Accelerator, device.Gate) { Traits = device.IsCuda ? DeviceTraits.Cuda(device.Accelerator.NumMultiprocessors) with { Product = device.Product } : DeviceTraits.CpuSimulator with { Product = device.Product } };
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
        P.Register(buffer);
        return buffer.View.SubView(0, n);
    }

    /// <summary>A float64 device buffer of <paramref name="n"/> elements for the programs (the widened epilogues' tables), freed with the op.</summary>
    protected unsafe Buf<double> AllocDouble(long n)
    {
        var buffer = Acc.Allocate1D<double>(Math.Max(1, n));
        _doubles.Add(buffer);
        P.Register(buffer);
        return new Buf<double>(buffer.NativePtr, n);
    }

    readonly List<MemoryBuffer1D<double, Stride1D.Dense>> _doubles = new();

    /// <summary>A one-element device buffer holding <paramref name="v"/> (e.g. a loss's upstream gradient of 1).</summary>
    protected ArrayView<float> Upload1(float v) => Upload([v]);

    ArrayView<float> Upload(float[] data)
    {
        var buffer = Acc.Allocate1D<float>(data.Length);
        buffer.CopyFromCPU(data);
        _buffers.Add(buffer);
        P.Register(buffer);
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

    public void Dispose()
    {
        P.Dispose();
        foreach (var b in _doubles) b.Dispose();
        _doubles.Clear();
        foreach (var b in _buffers) b.Dispose();
        _buffers.Clear();
    }
}
