using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using GpuKd.Kernels.Launch;
using GpuKd.Kernels.Launch.Cuda;
using GpuKd.Kernels.Programs;
using ILGPU;
using ILGPU.Runtime.CPU;

namespace GpuKd.KernelBench.InProcess;

/// <summary>
/// The op programs as C entry points, for a process that is not .NET: bench/gpu/inprocess.py loads this
/// (self-contained) assembly into a PyTorch process through the runtime's hosting API (hostfxr) and calls these
/// with <c>tensor.data_ptr()</c>s, sizes and <c>torch.cuda.current_stream().cuda_stream</c>. PyTorch then owns
/// the primary context, the stream and every byte (temporaries come from PyTorch through the allocator callbacks)
/// — exactly the situation of the library inside a TorchSharp CUDA process (issue 14).
/// Calling convention of every op entry: (dtype 0 = float32 / 1 = float64, args = int64[] of (pointer, length)
/// pairs for the buffers in the op's order, then its integer sizes, argument count, stream) → 0 on success, 1 on
/// an error whose text <see cref="LastError"/> returns. The buffer orders are listed in inprocess.py (OPS).
/// </summary>
public static unsafe class Exports
{
    static IKdDevice? _device;
    static nint _stream;
    static string _error = "";
    static delegate* unmanaged<long, nint, nint> _alloc;
    static delegate* unmanaged<nint, void> _free;

    /// <summary>Mode 0: CUDA device <paramref name="ordinal"/> through the driver, in its primary context. Mode 1:
    /// ILGPU's CPU accelerator over host memory (the self-test that runs without a GPU).</summary>
    [UnmanagedCallersOnly(EntryPoint = "gpukd_init")]
    public static int Init(int mode, int ordinal) => Guard(() =>
    {
        if (mode == 0)
        {
            var driver = CudaDriverApi.TryLoad() ?? throw new InvalidOperationException("libcuda.so.1 could not be loaded");
            _device = new CudaDevice(driver, ordinal, () => _stream);
        }
        else
        {
            var context = Context.Create(b => b.CPU(CPUDevice.Default));
            _device = new IlgpuAcceleratorDevice(context.CreateCPUAccelerator(0));
        }
    });

    /// <summary>Temporaries through the host process's allocator: alloc(bytes, stream) → pointer, free(pointer) (PyTorch's
    /// caching allocator, so that its peak-memory statistics see them). Without it the CUDA device uses cuMemAllocAsync.</summary>
    [UnmanagedCallersOnly(EntryPoint = "gpukd_set_allocator")]
    public static int SetAllocator(delegate* unmanaged<long, nint, nint> alloc, delegate* unmanaged<nint, void> free) => Guard(() =>
    {
        _alloc = alloc;
        _free = free;
    });

    /// <summary>Copies the last error's text (UTF-8, NUL-terminated, truncated to <paramref name="capacity"/>); returns its length.</summary>
    [UnmanagedCallersOnly(EntryPoint = "gpukd_last_error")]
    public static int LastError(byte* buffer, int capacity)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(_error);
        int n = Math.Min(bytes.Length, Math.Max(capacity - 1, 0));
        for (int i = 0; i < n; i++) buffer[i] = bytes[i];
        if (capacity > 0) buffer[n] = 0;
        return bytes.Length;
    }

    /// <summary>1 when the program's launches are queued (CUDA: nothing waited for); the self-test mode has finished them.</summary>
    static int Guard(Action body)
    {
        try { body(); _error = ""; return 0; }
        catch (Exception e) { _error = $"{e.GetType().Name}: {e.Message}"; return 1; }
    }

    sealed class Args(long* a, int n)
    {
        int _next;
        public Buf<T> Buf<T>() where T : unmanaged { Need(2); var b = new Buf<T>((nint)a[_next], a[_next + 1]); _next += 2; return b; }
        public int Int() { Need(1); return checked((int)a[_next++]); }
        void Need(int k) { if (_next + k > n) throw new ArgumentException($"{n} arguments given, more needed"); }
    }

    /// <summary>Runs one program for the element type chosen by dtype, in one sequence on the caller's stream.</summary>
    static int Run(int dtype, long* args, int n, nint stream, Action<IKdDevice, Args> f32, Action<IKdDevice, Args> f64) => Guard(() =>
    {
        var dev = _device ?? throw new InvalidOperationException("gpukd_init first");
        if (_alloc != null) dev = new Hosted(dev, _alloc, _free);
        _stream = stream;
        var a = new Args(args, n);
        using (dev.Sequence()) (dtype == 0 ? f32 : dtype == 1 ? f64 : throw new ArgumentException($"dtype {dtype}"))(dev, a);
    });

    /// <summary>Temporaries from the host's allocator, freed when the sequence ends (stream-ordered on both sides).</summary>
    sealed class Hosted(IKdDevice inner, delegate* unmanaged<long, nint, nint> alloc, delegate* unmanaged<nint, void> free) : IKdDevice
    {
        readonly List<nint> _owned = new();
        public DeviceTraits Traits => inner.Traits;
        public Buf<T> Alloc<T>(long count) where T : unmanaged
        {
            nint p = alloc(Math.Max(count, 1) * sizeof(T), _stream);
            if (p == 0) throw new OutOfMemoryException($"the host allocator returned no memory for {count} {typeof(T).Name}");
            _owned.Add(p);
            return new Buf<T>(p, count);
        }
        public void Launch(KernelId kernel, LaunchShape shape, params object[] args) => inner.Launch(kernel, shape, args);
        public IDisposable Sequence() => new End(this, inner.Sequence());
        sealed class End(Hosted h, IDisposable seq) : IDisposable
        {
            public void Dispose()
            {
                try { seq.Dispose(); }
                finally { foreach (var p in h._owned) h.FreeOne(p); h._owned.Clear(); }
            }
        }
        void FreeOne(nint p) => free(p);
    }

    static double Count(int b, int power, int mean) => mean != 0 ? Math.Pow(b, power) : 1.0;

    static void Gram<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward) { Buf<T> x = a.Buf<T>(), g = a.Buf<T>(), norms = a.Buf<T>(), result = a.Buf<T>(); int b = a.Int(), dim = a.Int(), nz = a.Int(); RelationPrograms<T>.GramForward(d, x, g, norms, result, b, dim, nz != 0, 1e-12); }
        else { Buf<T> gbar = a.Buf<T>(), x = a.Buf<T>(), result = a.Buf<T>(), norms = a.Buf<T>(), xbar = a.Buf<T>(); int b = a.Int(), dim = a.Int(), nz = a.Int(); RelationPrograms<T>.GramBackward(d, gbar, x, result, norms, xbar, b, dim, nz != 0, 1e-12); }
    }

    static void Cosine<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward) { Buf<T> x = a.Buf<T>(), norms = a.Buf<T>(), unit = a.Buf<T>(), m = a.Buf<T>(); int batch = a.Int(), n = a.Int(), c = a.Int(); RelationPrograms<T>.CosineForward(d, x, norms, unit, m, batch, n, c, 1e-12); }
        else { Buf<T> abar = a.Buf<T>(), unit = a.Buf<T>(), norms = a.Buf<T>(), xbar = a.Buf<T>(); int batch = a.Int(), n = a.Int(), c = a.Int(); RelationPrograms<T>.CosineBackward(d, abar, unit, norms, xbar, batch, n, c, 1e-12); }
    }

    static void Pdist<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward) { Buf<T> x = a.Buf<T>(), xc = a.Buf<T>(), dist = a.Buf<T>(); int b = a.Int(), dim = a.Int(), sq = a.Int(); RelationPrograms<T>.DistanceForward(d, x, xc, dist, b, dim, sq != 0, RkdPrograms<T>.Clamp); }
        else { Buf<T> dbar = a.Buf<T>(), xc = a.Buf<T>(), dist = a.Buf<T>(), xbar = a.Buf<T>(); int b = a.Int(), dim = a.Int(), sq = a.Int(); RelationPrograms<T>.DistanceBackward(d, dbar, xc, dist, xbar, b, dim, sq != 0, RkdPrograms<T>.Clamp); }
    }

    static void Angles<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward) { Buf<T> x = a.Buf<T>(), xc = a.Buf<T>(), g = a.Buf<T>(), inv = a.Buf<T>(), ginv = a.Buf<T>(), angles = a.Buf<T>(); int b = a.Int(), dim = a.Int(); RelationPrograms<T>.AnglesForward(d, x, xc, g, inv, ginv, angles, b, dim, RkdPrograms<T>.Tiny); }
        else { Buf<T> rbar = a.Buf<T>(), xc = a.Buf<T>(), g = a.Buf<T>(), inv = a.Buf<T>(), ginv = a.Buf<T>(), xbar = a.Buf<T>(); int b = a.Int(), dim = a.Int(); RelationPrograms<T>.AnglesBackward(d, rbar, xc, g, inv, ginv, xbar, b, dim); }
    }

    static RkdDistanceSide<T> DistSide<T>(Args a) where T : unmanaged => new(a.Buf<T>(), a.Buf<double>(), a.Buf<double>());   // d and 1/μ are float64
    static RkdAngleSide<T> AngleSide<T>(Args a) where T : unmanaged => new(a.Buf<T>(), a.Buf<T>(), a.Buf<T>(), a.Buf<T>());

    static void RkdDistance<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward) { Buf<T> xs = a.Buf<T>(), xt = a.Buf<T>(); var s = DistSide<T>(a); var t = DistSide<T>(a); var loss = a.Buf<T>(); int b = a.Int(), ds = a.Int(), dt = a.Int(), mean = a.Int(); RkdPrograms<T>.DistanceForward(d, xs, xt, s, t, loss, b, ds, dt, Count(b, 2, mean)); }
        else { var self = DistSide<T>(a); var other = DistSide<T>(a); Buf<T> up = a.Buf<T>(), xbar = a.Buf<T>(); int b = a.Int(), dim = a.Int(), mean = a.Int(); RkdPrograms<T>.DistanceBackward(d, self, other, up, xbar, b, dim, Count(b, 2, mean)); }
    }

    static void RkdAngle<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward) { Buf<T> xs = a.Buf<T>(), xt = a.Buf<T>(); var s = AngleSide<T>(a); var t = AngleSide<T>(a); var loss = a.Buf<T>(); int b = a.Int(), ds = a.Int(), dt = a.Int(), mean = a.Int(); RkdPrograms<T>.AngleForward(d, xs, xt, s, t, loss, b, ds, dt, Count(b, 3, mean)); }
        else { var self = AngleSide<T>(a); var other = AngleSide<T>(a); Buf<T> up = a.Buf<T>(), xbar = a.Buf<T>(); int b = a.Int(), dim = a.Int(), mean = a.Int(); RkdPrograms<T>.AngleBackward(d, self, other, up, xbar, b, dim, Count(b, 3, mean)); }
    }

#pragma warning disable CS1591 // one entry per op program and phase; the argument orders are in inprocess.py
    [UnmanagedCallersOnly(EntryPoint = "gpukd_gram_forward")] public static int GramF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Gram<float>(d, x, false), (d, x) => Gram<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_gram_backward")] public static int GramB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Gram<float>(d, x, true), (d, x) => Gram<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_cosine_forward")] public static int CosF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Cosine<float>(d, x, false), (d, x) => Cosine<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_cosine_backward")] public static int CosB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Cosine<float>(d, x, true), (d, x) => Cosine<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_pdist_forward")] public static int PdF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Pdist<float>(d, x, false), (d, x) => Pdist<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_pdist_backward")] public static int PdB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Pdist<float>(d, x, true), (d, x) => Pdist<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_triplet_angles_forward")] public static int AnF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Angles<float>(d, x, false), (d, x) => Angles<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_triplet_angles_backward")] public static int AnB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Angles<float>(d, x, true), (d, x) => Angles<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_rkd_distance_forward")] public static int RdF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => RkdDistance<float>(d, x, false), (d, x) => RkdDistance<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_rkd_distance_backward")] public static int RdB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => RkdDistance<float>(d, x, true), (d, x) => RkdDistance<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_rkd_angle_forward")] public static int RaF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => RkdAngle<float>(d, x, false), (d, x) => RkdAngle<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_rkd_angle_backward")] public static int RaB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => RkdAngle<float>(d, x, true), (d, x) => RkdAngle<double>(d, x, true));
#pragma warning restore CS1591
}
