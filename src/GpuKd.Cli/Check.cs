using System.Diagnostics;
using GpuKd.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Cli;

/// <summary>
/// <c>gpukd check</c>: every op variant × backend × dtype, value and gradient against
/// the reference compositions (ReferenceOps, ReferenceLosses) evaluated in float64 on the same inputs, with the DESIGN §5 bars.
/// </summary>
internal static class Check
{
    /// <summary>DESIGN §5: float32 vs a float64 oracle ≤ 1e-4; float64 held to 1e-10.</summary>
    static double Bar(ScalarType dtype) => dtype == ScalarType.Float64 ? 1e-10 : 1e-4;

    /// <summary>Shapes per variant: moderate on the CPU fast path, small on ILGPU (on a
    /// machine without a GPU it runs on ILGPU's CPU simulator).</summary>
    static readonly (OpVariant Op, long[] Cpu, long[] Ilgpu)[] Cases =
    [
        (Ops.Gram,           [32, 3, 4, 4], [8, 2, 2, 3]),
        (Ops.GramNormalized, [32, 48],      [8, 12]),
        (Ops.Cosine,         [32, 48],      [8, 12]),
        (Ops.CosineBatched,  [4, 9, 16],    [2, 5, 6]),
        (Ops.Pdist,          [32, 3, 4, 4], [8, 12]),
        (Ops.PdistSquared,   [32, 48],      [8, 12]),
        (Ops.Angles,         [16, 24],      [6, 10]),
        (Ops.RkdDistance,    [32, 48],      [8, 12]),
        (Ops.RkdAngle,       [24, 40],      [6, 10]),
        (Ops.Sp,             [32, 2, 4, 6], [8, 12]),
        (Ops.Cc,             [32, 48],      [8, 12]),
        (Ops.IrgEdge,        [32, 48],      [8, 12]),
        (Ops.IrgTransformation, [16, 3, 5, 5], [6, 3, 5, 5]),   // adaptive pooling 5×5 → 2×2, l2's channel pairs folded
        // Structured KD: small enough for the ILGPU simulator (the pixel-wise pass and the pair-wise node normalisation
        // are ILGPU kernels there; the pair-wise Grams stay libtorch GEMMs), so the same sizes on both backends.
        (Ops.SkdPairwise,     [2, 8, 33, 33], [2, 8, 33, 33]),
        (Ops.SkdPairwiseFull, [2, 8, 17, 15], [2, 8, 17, 15]),
        (Ops.SkdPixelwise,    [2, 19, 17, 15], [2, 19, 17, 15]),
        // Issue 16: channel-relation losses on maps (odd sizes).
        (Ops.Ickd,            [8, 12, 5, 7],  [3, 5, 3, 3]),
        (Ops.Nst,             [8, 12, 5, 5],  [3, 5, 3, 3]),
        (Ops.Pkt,             [32, 48],       [8, 12]),
        (Ops.Dist,            [32, 100],      [8, 13]),
        (Ops.Fsp,             [8, 12, 5, 5],  [3, 5, 3, 3]),
    ];

    /// <summary>
    /// The float32 classes where a loss is a small difference of large terms (float32 only; CPU shape, ILGPU shape):
    /// student = teacher + 1% noise (late training), features with a common offset of 100 (spread 1), unit embeddings
    /// near one direction (cosines ≈ 0.99), and collinear points (D = 1: the angle gradient is exactly 0, so its error
    /// is the absolute max|Δ|, bar 1e-12).
    /// </summary>
    static readonly (string Class, OpVariant Op, long[] Cpu, long[] Ilgpu)[] ClassCases =
    [
        ("student≈teacher", Ops.NearTeacherVariant(Ops.RkdDistance, (s, t) => gpukd.functional.rkd_distance_loss(s, t), ReferenceOps.RkdDistanceLoss), [31, 257], [9, 17]),
        ("student≈teacher", Ops.NearTeacherVariant(Ops.RkdAngle, (s, t) => gpukd.functional.rkd_angle_loss(s, t), (s, t) => ReferenceOps.RkdAngleLoss(s, t, maskSelfLegs: true)), [31, 257], [9, 17]),
        ("student≈teacher", Ops.NearTeacherVariant(Ops.IrgEdge, (s, t) => gpukd.functional.irg_edge_loss(s, t), (s, t) => ReferenceLosses.IrgEdgeLoss(s, t)), [17, 1000], [9, 17]),
        ("offset 100", Ops.Sp, [31, 257], [9, 17]),
        ("offset 100", Ops.Cc, [31, 257], [9, 17]),
        ("offset 100", Ops.IrgEdge, [31, 257], [9, 17]),
        ("offset 100", Ops.RkdDistance, [31, 257], [9, 17]),
        ("near-collinear", Ops.Sp, [17, 1000], [9, 17]),
        ("near-collinear", Ops.Cc, [17, 1000], [9, 17]),
        ("collinear D=1", Ops.RkdAngle, [24, 1], [6, 1]),
    ];

    /// <summary>The student of a class row, in float64 (cast to the row's dtype by the caller).</summary>
    static Tensor ClassInput(string cls, long[] shape, torch.Generator gen)
    {
        var x = torch.randn(shape, dtype: ScalarType.Float64, generator: gen);
        return cls switch
        {
            "student≈teacher" => Ops.NearTeacher(shape, ScalarType.Float32).to(ScalarType.Float64) + 0.01 * x,
            "offset 100" => x + 100,
            "near-collinear" => torch.nn.functional.normalize(torch.randn([1, shape[1]], dtype: ScalarType.Float64, generator: gen) + 0.1 * x, dim: 1),
            _ => x,
        };
    }

    static readonly KdBackend[] Backends = [KdBackend.Cpu, KdBackend.Ilgpu];
    static readonly ScalarType[] Dtypes = [ScalarType.Float32, ScalarType.Float64];

    /// <summary>Runs the check, prints the table; returns the number of failed rows.</summary>
    public static int Run(TextWriter w)
    {
        w.WriteLine("gpukd check: value and gradient of every op vs the reference composition in float64");
        w.WriteLine("  gradient = backward of sum(W * out) for a fixed random W; error = |got - ref| / |ref| (Frobenius)");
        w.WriteLine("  pass bars (DESIGN 5): float32 1e-4, float64 1e-10; ILGPU at small sizes (CPU simulator without a GPU)");
        w.WriteLine("  triplet angles: the oracle's weights are 0 where b = a or c = a (entries identically 0, whose reference");
        w.WriteLine("  gradient is ~1e12-scaled round-off); GpuKd gets the full weights");
        w.WriteLine();

        var table = new Table("op", "backend", "dtype", "shape", "value err", "grad err", "result", "note");
        table.RightAligned.UnionWith([4, 5]);
        var notes = new List<string>(); // distinct error messages, printed as footnotes
        int failed = 0, rows = 0, seed = 1234;
        var clock = Stopwatch.StartNew();
        foreach (var (op, cpuShape, ilgpuShape) in Cases)
            foreach (var backend in Backends)
                foreach (var dtype in Dtypes)
                {
                    var shape = backend == KdBackend.Ilgpu ? ilgpuShape : cpuShape;
                    var r = RunOne(op, backend, dtype, shape, seed++);
                    bool pass = r.Error is null && r.ValueErr <= Bar(dtype) && r.GradErr <= Bar(dtype);
                    rows++;
                    if (!pass) failed++;
                    table.Add(op.Name, backend.ToString(), DtypeName(dtype), Fmt.Shape(shape),
                        r.Error is null ? Fmt.Err(r.ValueErr) : "-",
                        r.Error is null ? Fmt.Err(r.GradErr) : "-",
                        pass ? "PASS" : "FAIL",
                        r.Error is null ? "" : Footnote(notes, r.Error));
                }
        foreach (var (cls, op, cpuShape, ilgpuShape) in ClassCases)
            foreach (var backend in Backends)
            {
                var shape = backend == KdBackend.Ilgpu ? ilgpuShape : cpuShape;
                bool absolute = cls == "collinear D=1";
                var r = RunOne(op, backend, ScalarType.Float32, shape, seed++, cls, absolute);
                bool pass = r.Error is null && r.ValueErr <= 1e-4 && r.GradErr <= (absolute ? 1e-12 : 1e-4);
                rows++;
                if (!pass) failed++;
                table.Add($"{op.Name}, {cls}", backend.ToString(), "float32", Fmt.Shape(shape),
                    r.Error is null ? Fmt.Err(r.ValueErr) : "-",
                    r.Error is null ? (absolute ? $"{r.GradErr:0.0e+0} abs" : Fmt.Err(r.GradErr)) : "-",
                    pass ? "PASS" : "FAIL",
                    r.Error is null ? "" : Footnote(notes, r.Error));
            }
        table.Print(w);
        w.WriteLine();

        // NaN / ±Inf propagation: one element of sample 1 (the middle of its row) poisoned; the value must come out
        // non-finite, or finite and equal to the float64 reference on the same input (a −∞ feature that max pooling
        // drops, a −∞ logit: the published maths gives a finite answer there).
        w.WriteLine("NaN / Inf propagation: one element poisoned, float32; the value must be non-finite (or the reference's own finite value)");
        var nanTable = new Table("op", "backend", "NaN", "+Inf", "-Inf", "result", "note");
        foreach (var (op, _, ilgpuShape) in Cases)
            foreach (var backend in Backends)
            {
                var cells = Poisons.Select(p => RunPoisoned(op, backend, ilgpuShape, p, seed++)).ToArray();
                bool pass = cells.All(c => c.Error is null && c.Ok);
                rows++;
                if (!pass) failed++;
                var error = cells.FirstOrDefault(c => c.Error is not null).Error;
                nanTable.Add([op.Name, backend.ToString(), .. cells.Select(c => c.Error is null ? c.Outcome : "-"), pass ? "PASS" : "FAIL",
                              error is null ? "" : Footnote(notes, error)]);
            }
        nanTable.Print(w);
        w.WriteLine();
        for (int i = 0; i < notes.Count; i++) w.WriteLine($"  [{i + 1}] {Fmt.Clip(notes[i], 200)}");
        if (notes.Count > 0) w.WriteLine();
        w.WriteLine($"check: {rows - failed} passed, {failed} failed ({clock.Elapsed.TotalSeconds:0.0} s)");
        return failed;
    }

    static string Footnote(List<string> notes, string message)
    {
        int i = notes.IndexOf(message);
        if (i < 0) { notes.Add(message); i = notes.Count - 1; }
        return $"[{i + 1}]";
    }

    internal static string DtypeName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float64 => "float64",
        _ => t.ToString(),
    };

    readonly record struct Result(double ValueErr, double GradErr, string? Error);

    static readonly double[] Poisons = [double.NaN, double.PositiveInfinity, double.NegativeInfinity];

    /// <summary>Outcome of one poisoned run: "non-finite", "= ref" (finite and equal to the float64 reference, which is
    /// itself finite), or "FINITE" (a silent wrong answer).</summary>
    readonly record struct Poisoned(bool Ok, string Outcome, string? Error);

    static Poisoned RunPoisoned(OpVariant op, KdBackend backend, long[] shape, double poison, int seed)
    {
        try
        {
            using var scope = torch.NewDisposeScope();
            var gen = new torch.Generator((ulong)seed);
            var x = torch.randn(shape, dtype: ScalarType.Float64, generator: gen);
            long row = x.numel() / shape[0];
            using (torch.no_grad()) x.select(0, 1).flatten()[row / 2] = poison;
            Tensor got;
            using (gpukd.use_backend(backend)) got = op.GpuKd(x.to_type(ScalarType.Float32));
            using var finite = got.isfinite().all();
            if (!finite.item<bool>()) return new(true, "non-finite", null);
            var reference = op.Reference(x).to_type(ScalarType.Float64);
            using var refFinite = reference.isfinite().all();
            bool equal = refFinite.item<bool>() && RelErr(got, reference) <= Bar(ScalarType.Float32);
            return equal ? new(true, "= ref", null) : new(false, "FINITE", null);
        }
        catch (Exception e)
        {
            return new(false, "-", Fmt.Error(e));
        }
    }

    static Result RunOne(OpVariant op, KdBackend backend, ScalarType dtype, long[] shape, int seed, string? cls = null, bool absoluteGrad = false)
    {
        try
        {
            using var scope = torch.NewDisposeScope();
            var gen = new torch.Generator((ulong)seed);

            // The op sees x in its dtype; the oracle sees exactly the same values in float64.
            var x = (cls is null ? torch.randn(shape, dtype: ScalarType.Float64, generator: gen) : ClassInput(cls, shape, gen)).to_type(dtype).requires_grad_(true);
            var xRef = x.detach().to_type(ScalarType.Float64).requires_grad_(true);

            var refOut = op.Reference(xRef);
            var weights = torch.randn(refOut.shape, dtype: ScalarType.Float64, generator: gen);
            (refOut * OracleWeights(op, weights)).sum().backward();

            Tensor got;
            using (gpukd.use_backend(backend))
            {
                got = op.GpuKd(x);
                if (got.dtype != dtype)
                    return new(double.NaN, double.NaN, $"output dtype {DtypeName(got.dtype)}, expected {DtypeName(dtype)}");
                if (!got.shape.SequenceEqual(refOut.shape))
                    return new(double.NaN, double.NaN, $"output shape {Fmt.Shape(got.shape)}, expected {Fmt.Shape(refOut.shape)}");
                (got * weights.to_type(dtype)).sum().backward();
            }

            var grad = x.grad;
            if (grad is null) return new(double.NaN, double.NaN, "no gradient reached the input");
            return new(RelErr(got, refOut), absoluteGrad ? MaxAbsDiff(grad, xRef.grad!) : RelErr(grad, xRef.grad!), null);
        }
        catch (Exception e)
        {
            return new(double.NaN, double.NaN, Fmt.Error(e));
        }
    }

    /// <summary>
    /// The upstream weights of the oracle's backward. For triplet angles the entries with b = a or
    /// c = a are identically 0 (x_a − x_a), so their exact gradient is 0, but the reference
    /// normalises a zero vector there and its backward adds and subtracts terms of ~1e12, leaving
    /// round-off of ~1e-4 even in float64. Zeroing their weights gives the oracle the exact
    /// gradient of the same function; GpuKd still gets the full weights.
    /// </summary>
    static Tensor OracleWeights(OpVariant op, Tensor weights)
    {
        if (!ReferenceEquals(op, Ops.Angles)) return weights;
        var i = torch.arange(weights.shape[0], device: weights.device);
        var legNotApex = i.unsqueeze(0) != i.unsqueeze(1);               // [a, b]: b ≠ a
        var keep = legNotApex.unsqueeze(2) & legNotApex.unsqueeze(1);     // [a, b, c]: b ≠ a and c ≠ a
        return weights * keep;
    }

    static double MaxAbsDiff(Tensor got, Tensor reference)
    {
        using var scope = torch.NewDisposeScope();
        return (got.detach().to_type(ScalarType.Float64) - reference.detach().to_type(ScalarType.Float64)).abs().max().item<double>();
    }

    /// <summary>‖got − ref‖ / ‖ref‖ in float64 (0 when both are 0; NaN propagates to FAIL).</summary>
    static double RelErr(Tensor got, Tensor reference)
    {
        using var scope = torch.NewDisposeScope();
        var r = reference.detach().to_type(ScalarType.Float64);
        double diff = (got.detach().to_type(ScalarType.Float64) - r).norm().item<double>();
        double norm = r.norm().item<double>();
        return diff == 0 ? 0 : diff / norm;
    }
}
