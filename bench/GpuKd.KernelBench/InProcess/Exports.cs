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
/// pairs for the buffers in the op's order, then its integer sizes and options — a float64 option (γ, eps, temperature)
/// as its IEEE-754 bit pattern —, argument count, stream) → 0 on success, 1 on an error whose text
/// <see cref="LastError"/> returns. The orders are listed in gpukd_inprocess.py (OPS). Ops: gram, cosine, pdist,
/// triplet angles, the RKD distance and angle losses, SP, CC, the IRG edge loss, ICKD, NST, PKT, DIST, FSP, the structured-KD
/// pixel-wise loss (CE and KL) and the pair-wise loss's direct fallback; the loss entries check every buffer's length against the sizes before any launch.
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
        /// <summary>A float64 argument, passed as its IEEE-754 bit pattern in one int64.</summary>
        public double Double() { Need(1); return BitConverter.Int64BitsToDouble(a[_next++]); }
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

    // ── the loss programs of SP, CC, IRG edge (pair losses over rows [b, d]; the mean over b² as the library takes it) ──

    static SpSide<T> SpSideOf<T>(Args a) where T : unmanaged => new(a.Buf<T>(), a.Buf<T>(), a.Buf<double>(), a.Buf<double>());   // X, μ, G, norms

    /// <summary>Checks a side's buffers against b and d before any launch (a short buffer is not recoverable in a kernel).</summary>
    static void NeedSp<T>(SpSide<T> s, int b, int d, string side) where T : unmanaged
    {
        bool wide = typeof(T) == typeof(float);
        s.X.Need((long)b * d, side + "_x"); s.Mean.Need(wide ? d : 0, side + "_mean"); s.G.Need((long)b * b, side + "_g"); s.Norms.Need(b, side + "_norms");
    }

    static void Sp<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward)
        {
            Buf<T> xs = a.Buf<T>(), xt = a.Buf<T>(); var s = SpSideOf<T>(a); var t = SpSideOf<T>(a); var loss = a.Buf<T>(); int b = a.Int(), ds = a.Int(), dt = a.Int();
            xs.Need((long)b * ds, "xs"); xt.Need((long)b * dt, "xt"); NeedSp(s, b, ds, "s"); NeedSp(t, b, dt, "t"); loss.Need(1, "loss");
            SpPrograms<T>.Forward(d, xs, xt, s, t, loss, b, ds, dt, (double)b * b);
        }
        else
        {
            var self = SpSideOf<T>(a); var other = SpSideOf<T>(a); Buf<T> up = a.Buf<T>(), xbar = a.Buf<T>(); int b = a.Int(), dim = a.Int();
            NeedSp(self, b, dim, "self"); other.G.Need((long)b * b, "other_g"); other.Norms.Need(b, "other_norms"); up.Need(1, "upstream"); xbar.Need((long)b * dim, "xbar");
            SpPrograms<T>.Backward(d, self, other, up, xbar, b, dim, (double)b * b);
        }
    }

    /// <summary>The CC function from (kind, order, γ): kind 0 Taylor-RBF, 1 exact RBF, 2 bilinear, 3 raw bilinear.</summary>
    static CcFunctionSpec CcSpecOf(int kind, int order, double gamma)
    {
        if (kind < 0 || kind > 3) throw new ArgumentException($"kind must be 0..3, got {kind}", nameof(kind));
        if (order < 0 || order > 64) throw new ArgumentException($"order must be in [0, 64], got {order}", nameof(order));
        if (!(gamma >= 0) || double.IsInfinity(gamma)) throw new ArgumentException($"gamma must be finite and ≥ 0, got {gamma}", nameof(gamma));
        return new CcFunctionSpec(kind, order, 2 * gamma, Math.Exp(-2 * gamma));
    }

    static CcSide<T> CcSideOf<T>(Args a) where T : unmanaged => new(a.Buf<T>(), a.Buf<T>(), a.Buf<double>(), a.Buf<double>());   // X, μ, norms, A

    static void NeedCc<T>(CcSide<T> s, int b, int d, CcFunctionSpec f, string side) where T : unmanaged
    {
        bool wide = typeof(T) == typeof(float);
        s.X.Need((long)b * d, side + "_x"); s.Mean.Need(wide ? d : 0, side + "_mean"); s.Norms.Need(f.Raw ? 0 : b, side + "_norms"); s.A.Need((long)b * b, side + "_a");
    }

    static void Cc<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward)
        {
            Buf<T> xs = a.Buf<T>(), xt = a.Buf<T>(); var s = CcSideOf<T>(a); var t = CcSideOf<T>(a); var loss = a.Buf<T>();
            int b = a.Int(), ds = a.Int(), dt = a.Int(); var f = CcSpecOf(a.Int(), a.Int(), a.Double());
            xs.Need((long)b * ds, "xs"); xt.Need((long)b * dt, "xt"); NeedCc(s, b, ds, f, "s"); NeedCc(t, b, dt, f, "t"); loss.Need(1, "loss");
            CcPrograms<T>.Forward(d, xs, xt, s, t, loss, b, ds, dt, f, (double)b * b);
        }
        else
        {
            var self = CcSideOf<T>(a); var other = CcSideOf<T>(a); Buf<T> up = a.Buf<T>(), xbar = a.Buf<T>();
            int b = a.Int(), dim = a.Int(); var f = CcSpecOf(a.Int(), a.Int(), a.Double());
            NeedCc(self, b, dim, f, "self"); other.A.Need((long)b * b, "other_a"); up.Need(1, "upstream"); xbar.Need((long)b * dim, "xbar");
            CcPrograms<T>.Backward(d, self, other, up, xbar, b, dim, f, (double)b * b);
        }
    }

    /// <summary>Xc, G, R, max (float64: R is Xc's buffer, passed again; float32: R is a [b, 1] double column).</summary>
    static EdgeSide<T> EdgeSideOf<T>(Args a) where T : unmanaged => new(a.Buf<T>(), a.Buf<double>(), a.Buf<double>(), a.Buf<double>());

    static void NeedEdge<T>(EdgeSide<T> s, int b, int d, string side) where T : unmanaged, IFloatingPointIeee754<T>
    {
        s.Xc.Need((long)b * d, side + "_xc"); s.G.Need((long)b * b, side + "_g"); s.R.Need((long)b * EdgePrograms<T>.RowWidth(d), side + "_r"); s.Max.Need(3, side + "_max");
    }

    static void Edge<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward)
        {
            Buf<T> xs = a.Buf<T>(), xt = a.Buf<T>(); var s = EdgeSideOf<T>(a); var t = EdgeSideOf<T>(a); var loss = a.Buf<T>(); int b = a.Int(), ds = a.Int(), dt = a.Int();
            xs.Need((long)b * ds, "xs"); xt.Need((long)b * dt, "xt"); NeedEdge(s, b, ds, "s"); NeedEdge(t, b, dt, "t"); loss.Need(1, "loss");
            EdgePrograms<T>.Forward(d, xs, xt, s, t, loss, b, ds, dt, (double)b * b);
        }
        else
        {
            var self = EdgeSideOf<T>(a); var other = EdgeSideOf<T>(a); Buf<T> up = a.Buf<T>(), xbar = a.Buf<T>(); int b = a.Int(), dim = a.Int(), dOther = a.Int(), dmax = a.Int();
            NeedEdge(self, b, dim, "self"); NeedEdge(other, b, dOther, "other"); up.Need(1, "upstream"); xbar.Need((long)b * dim, "xbar");
            if (other.Xc.Length != (long)b * dOther) throw new ArgumentException($"other_xc: {other.Xc.Length} elements, b·d_other = {(long)b * dOther} expected", "other_xc");
            EdgePrograms<T>.Backward(d, self, other, up, xbar, b, dim, (double)b * b, dmax != 0);
        }
    }

    // ── the channel-relation losses (issue 16): ICKD, NST, PKT; DIST and FSP below. ──

    static IckdSide<T> IckdSideOf<T>(Args a) where T : unmanaged => new(a.Buf<T>(), a.Buf<T>(), a.Buf<T>());   // maps, G, norms

    static void NeedIckd<T>(IckdSide<T> s, int batch, int c, int n, string side) where T : unmanaged
    {
        s.X.Need((long)batch * c * n, side + "_x"); s.G.Need((long)batch * c * c, side + "_g"); s.Norms.Need((long)batch * c, side + "_norms");
    }

    static void Ickd<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward)
        {
            var s = IckdSideOf<T>(a); var t = IckdSideOf<T>(a); var loss = a.Buf<T>(); int batch = a.Int(), c = a.Int(), ns = a.Int(), nt = a.Int(), mean = a.Int();
            NeedIckd(s, batch, c, ns, "s"); NeedIckd(t, batch, c, nt, "t");
            IckdPrograms<T>.Forward(d, s, t, loss, batch, c, ns, nt, mean != 0 ? (double)c * batch * batch : 1.0);
        }
        else
        {
            var self = IckdSideOf<T>(a); var other = IckdSideOf<T>(a); Buf<T> up = a.Buf<T>(), xbar = a.Buf<T>(); int batch = a.Int(), c = a.Int(), n = a.Int(), mean = a.Int();
            NeedIckd(self, batch, c, n, "self"); other.G.Need((long)batch * c * c, "other_g"); other.Norms.Need((long)batch * c, "other_norms");
            up.Need(1, "upstream"); xbar.Need((long)batch * c * n, "xbar");
            IckdPrograms<T>.Backward(d, self, other, up, xbar, batch, c, n, mean != 0 ? (double)c * batch * batch : 1.0);
        }
    }

    /// <summary>NST's weights of G² on the ss, cross and tt blocks: the published means, or 1, −1, 1 for the sum.</summary>
    static (double Ws, double Wst, double Wt) NstWeights(int batch, int cs, int ct, int mean)
        => mean != 0 ? (1.0 / ((double)batch * cs * cs), -1.0 / ((double)batch * cs * ct), 1.0 / ((double)batch * ct * ct)) : (1, -1, 1);

    static void Nst<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward)
        {
            Buf<T> xs = a.Buf<T>(), xt = a.Buf<T>(), norms = a.Buf<T>(), unit = a.Buf<T>(), g = a.Buf<T>(), loss = a.Buf<T>();
            int batch = a.Int(), cs = a.Int(), ct = a.Int(), npix = a.Int(), mean = a.Int(), n = checked(cs + ct);
            xs.Need((long)batch * cs * npix, "xs"); xt.Need((long)batch * ct * npix, "xt"); g.Need((long)batch * n * n, "g");
            var (ws, wst, wt) = NstWeights(batch, cs, ct, mean);
            NstPrograms<T>.Forward(d, xs, xt, new(norms, unit, g), loss, batch, n, cs, npix, ws, wst, wt);
        }
        else
        {
            Buf<T> norms = a.Buf<T>(), unit = a.Buf<T>(), g = a.Buf<T>(), up = a.Buf<T>(), zbar = a.Buf<T>();
            int batch = a.Int(), cs = a.Int(), ct = a.Int(), npix = a.Int(), mean = a.Int(), n = checked(cs + ct);
            long rows = (long)batch * n;
            norms.Need(rows, "norms"); unit.Need(rows * npix, "unit"); g.Need(rows * n, "g"); up.Need(1, "upstream"); zbar.Need(rows * npix, "zbar");
            var (ws, wst, _) = NstWeights(batch, cs, ct, mean);
            NstPrograms<T>.Backward(d, new(norms, unit, g), up, zbar, batch, n, cs, npix, ws, wst);
        }
    }

    static PktSide<T> PktSideOf<T>(Args a) where T : unmanaged => new(a.Buf<T>(), a.Buf<T>(), a.Buf<T>(), a.Buf<T>());   // x, norms, unit, S

    static void NeedPkt<T>(PktSide<T> s, int b, int d, string side) where T : unmanaged
    {
        s.X.Need((long)b * d, side + "_x"); s.Norms.Need(b, side + "_norms"); s.Unit.Need((long)b * d, side + "_unit"); s.S.Need((long)b * b, side + "_s");
    }

    static void Pkt<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward)
        {
            var s = PktSideOf<T>(a); var t = PktSideOf<T>(a); var loss = a.Buf<T>(); int b = a.Int(), ds = a.Int(), dt = a.Int(), mean = a.Int(); double eps = a.Double();
            if (!(eps > 0) || double.IsInfinity(eps)) throw new ArgumentException($"eps must be finite and > 0, got {eps}", "eps");
            NeedPkt(s, b, ds, "s"); NeedPkt(t, b, dt, "t");
            PktPrograms<T>.Forward(d, s, t, loss, b, ds, dt, eps, mean != 0 ? 1.0 / ((double)b * b) : 1.0);
        }
        else
        {
            var s = PktSideOf<T>(a); var t = PktSideOf<T>(a); Buf<T> up = a.Buf<T>(), xbar = a.Buf<T>();
            int b = a.Int(), ds = a.Int(), dt = a.Int(), teacher = a.Int(), mean = a.Int(); double eps = a.Double();
            NeedPkt(s, b, ds, "s"); NeedPkt(t, b, dt, "t"); up.Need(1, "upstream");
            PktPrograms<T>.Backward(d, s, t, teacher != 0, up, xbar, b, teacher != 0 ? dt : ds, eps, mean != 0 ? 1.0 / ((double)b * b) : 1.0);
        }
    }

    // ── structured KD, pixel-wise (issue 13): the forward writes both gradients (scaled by 1/count), the backward scales one by the upstream ──

    static void SkdPixelwise<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward)
        {
            Buf<T> zs = a.Buf<T>(), zt = a.Buf<T>(), gs = a.Buf<T>(), gt = a.Buf<T>(), loss = a.Buf<T>();
            int b = a.Int(), k = a.Int(), p = a.Int(), kl = a.Int(), reduction = a.Int(); double temperature = a.Double();
            if (!(temperature > 0) || double.IsInfinity(temperature)) throw new ArgumentException($"temperature must be finite and > 0, got {temperature}", "temperature");
            if (reduction is < 0 or > 2) throw new ArgumentException($"reduction must be 0 (mean), 1 (sum) or 2 (none), got {reduction}", "reduction");
            double t2 = temperature * temperature;   // as SkdPixelwiseLoss: Mean — CE Σ/(H·W), KL T²·mean over B·H·W; Sum/None the pixel terms (T²·KL)
            double count = reduction == 0 ? (kl != 0 ? (double)b * p / t2 : p) : (kl != 0 ? 1 / t2 : 1);
            SkdPrograms<T>.Pixelwise(d, kl != 0, zs, zt, gs, gt, loss, reduction == 2, b, k, p, 1 / temperature, count);
        }
        else
        {
            Buf<T> g = a.Buf<T>(), up = a.Buf<T>(), result = a.Buf<T>(); int b = a.Int(), k = a.Int(), p = a.Int();
            SkdPrograms<T>.PixelwiseBackward(d, g, up, result, b, k, p);
        }
    }

    // ── DIST (issue 16): logits zs, zt [b, K] read in place; the softmaxes ys, yt and the row/column statistics (5·b, 5·K) kept ──

    /// <summary>torchdistill's cosine_similarity eps (GpuKd.Ops.DistLoss.Eps: the kernels-only harness does not reference the library).</summary>
    const double DistEps = 1e-8;

    static (double Row, double Col) DistScales(int b, int k, int mean, double beta, double gamma, double tau)
    {
        if (!(tau > 0) || double.IsInfinity(tau)) throw new ArgumentException($"tau must be finite and > 0, got {tau}", "tau");
        double t2 = tau * tau;   // as DistLoss: βτ²·(1 − mean row Pearson) + γτ²·(1 − mean column Pearson), or the plain sums
        return mean != 0 ? (beta * t2 / b, gamma * t2 / k) : (beta * t2, gamma * t2);
    }

    static void Dist<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward)
        {
            Buf<T> zs = a.Buf<T>(), zt = a.Buf<T>(), ys = a.Buf<T>(), yt = a.Buf<T>(), rows = a.Buf<T>(), cols = a.Buf<T>(), loss = a.Buf<T>();
            int b = a.Int(), k = a.Int(), mean = a.Int(); double beta = a.Double(), gamma = a.Double(), tau = a.Double();
            var (rs, cs) = DistScales(b, k, mean, beta, gamma, tau);
            DistPrograms<T>.Forward(d, new(zs, zt, ys, yt, rows, cols), loss, b, k, tau, DistEps, rs, cs);
        }
        else
        {
            Buf<T> ys = a.Buf<T>(), yt = a.Buf<T>(), rows = a.Buf<T>(), cols = a.Buf<T>(), up = a.Buf<T>(), zbar = a.Buf<T>();
            int b = a.Int(), k = a.Int(), teacher = a.Int(), mean = a.Int(); double beta = a.Double(), gamma = a.Double(), tau = a.Double();
            var (rs, cs) = DistScales(b, k, mean, beta, gamma, tau);
            ys.Need((long)b * k, "ys"); yt.Need((long)b * k, "yt"); rows.Need(5L * b, "rows"); cols.Need(5L * k, "cols");
            DistPrograms<T>.Backward(d, new(default, default, ys, yt, rows, cols), teacher != 0, up, zbar, b, k, tau, DistEps, rs, cs);
        }
    }

    // ── FSP (issue 16), one pair of consecutive layers per side at one spatial size (pool first): bot [B, Cb, N], top [B, Ct, N]
    // read in place; d [B, Ct, Cb] kept for the backward; mean 1: RepDistiller's mean over B·Ct·Cb (weight 1), else the sum ──

    static double FspCount(int batch, int ct, int cb, int mean) => mean != 0 ? 1.0 / ((double)batch * ct * cb) : 1.0;

    static void Fsp<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!backward)
        {
            Buf<T> botS = a.Buf<T>(), topS = a.Buf<T>(), botT = a.Buf<T>(), topT = a.Buf<T>(), dd = a.Buf<T>(), loss = a.Buf<T>();
            int batch = a.Int(), ct = a.Int(), cb = a.Int(), ns = a.Int(), nt = a.Int(), mean = a.Int();
            botS.Need((long)batch * cb * ns, "bot_s"); topS.Need((long)batch * ct * ns, "top_s");
            botT.Need((long)batch * cb * nt, "bot_t"); topT.Need((long)batch * ct * nt, "top_t");
            FspPrograms<T>.Forward(d, botS, topS, botT, topT, dd, loss, batch, ct, cb, ns, nt, FspCount(batch, ct, cb, mean));
        }
        else
        {
            Buf<T> bot = a.Buf<T>(), top = a.Buf<T>(), dd = a.Buf<T>(), up = a.Buf<T>(), botBar = a.Buf<T>(), topBar = a.Buf<T>();
            int batch = a.Int(), ct = a.Int(), cb = a.Int(), n = a.Int(), teacher = a.Int(), mean = a.Int();
            bot.Need((long)batch * cb * n, "bot"); top.Need((long)batch * ct * n, "top"); up.Need(1, "upstream");
            if (botBar.Length != 0) botBar.Need((long)batch * cb * n, "bot_bar");
            if (topBar.Length != 0) topBar.Need((long)batch * ct * n, "top_bar");
            double k = (teacher != 0 ? -2.0 : 2.0) * FspCount(batch, ct, cb, mean) / n;
            FspPrograms<T>.Backward(d, bot, top, dd, up, botBar.Length != 0 ? botBar : null, topBar.Length != 0 ? topBar : null, batch, ct, cb, n, k);
        }
    }

    // ── structured KD, pair-wise: the deferred route's direct-form fallback for one image (issue 13), read in place; the
    // forward entry is DirectRows, the backward DirectHatGrads (flag, norms, rows, d and the hat gradients are float64) ──

    static void SkdDirect<T>(IKdDevice d, Args a, bool backward) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Buf<double> flag = a.Buf<double>(); Buf<T> xs = a.Buf<T>(), xt = a.Buf<T>(); Buf<double> ns = a.Buf<double>(), nt = a.Buf<double>();
        if (!backward)
        {
            Buf<double> rows = a.Buf<double>(); int cs = a.Int(), ct = a.Int(), n = a.Int(), offset = a.Int(); double eps = a.Double();
            SkdPrograms<T>.DirectRows(d, flag, xs, xt, ns, nt, rows, cs, ct, n, offset != 0, eps);
        }
        else
        {
            Buf<double> dd = a.Buf<double>(), gs = a.Buf<double>(), gt = a.Buf<double>();
            int cs = a.Int(), ct = a.Int(), n = a.Int(), p0 = a.Int(), m = a.Int(), gStride = a.Int(), gOff = a.Int(), offset = a.Int(); double eps = a.Double();
            SkdPrograms<T>.DirectHatGrads(d, flag, xs, xt, ns, nt, dd, gs, gt, cs, ct, n, p0, m, gStride, gOff, offset != 0, eps);
        }
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
    [UnmanagedCallersOnly(EntryPoint = "gpukd_sp_forward")] public static int SpF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Sp<float>(d, x, false), (d, x) => Sp<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_sp_backward")] public static int SpB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Sp<float>(d, x, true), (d, x) => Sp<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_cc_forward")] public static int CcF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Cc<float>(d, x, false), (d, x) => Cc<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_cc_backward")] public static int CcB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Cc<float>(d, x, true), (d, x) => Cc<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_irg_edge_forward")] public static int EdF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Edge<float>(d, x, false), (d, x) => Edge<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_irg_edge_backward")] public static int EdB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Edge<float>(d, x, true), (d, x) => Edge<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_ickd_forward")] public static int IcF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Ickd<float>(d, x, false), (d, x) => Ickd<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_ickd_backward")] public static int IcB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Ickd<float>(d, x, true), (d, x) => Ickd<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_nst_forward")] public static int NsF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Nst<float>(d, x, false), (d, x) => Nst<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_nst_backward")] public static int NsB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Nst<float>(d, x, true), (d, x) => Nst<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_pkt_forward")] public static int PkF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Pkt<float>(d, x, false), (d, x) => Pkt<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_pkt_backward")] public static int PkB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Pkt<float>(d, x, true), (d, x) => Pkt<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_skd_pixelwise_forward")] public static int SkF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => SkdPixelwise<float>(d, x, false), (d, x) => SkdPixelwise<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_skd_pixelwise_backward")] public static int SkB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => SkdPixelwise<float>(d, x, true), (d, x) => SkdPixelwise<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_dist_forward")] public static int DiF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Dist<float>(d, x, false), (d, x) => Dist<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_dist_backward")] public static int DiB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Dist<float>(d, x, true), (d, x) => Dist<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_skd_direct_forward")] public static int SdF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => SkdDirect<float>(d, x, false), (d, x) => SkdDirect<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_skd_direct_backward")] public static int SdB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => SkdDirect<float>(d, x, true), (d, x) => SkdDirect<double>(d, x, true));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_fsp_forward")] public static int FsF(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Fsp<float>(d, x, false), (d, x) => Fsp<double>(d, x, false));
    [UnmanagedCallersOnly(EntryPoint = "gpukd_fsp_backward")] public static int FsB(int t, long* a, int n, nint s) => Run(t, a, n, s, (d, x) => Fsp<float>(d, x, true), (d, x) => Fsp<double>(d, x, true));
#pragma warning restore CS1591
}
