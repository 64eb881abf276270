using GpuKd.Kernels.Ilgpu;

namespace GpuKd.KernelBench;

/// <summary>
/// The benchmarked ops, their size limits and their FLOP models. A FLOP model counts the
/// products (2·b²·D per Gram or backward product, student and teacher alike) plus, for the b³ angle
/// work, a stated count per triplet; the O(b²) and O(bD) epilogues are not counted. The same
/// numbers divide both implementations' times (bench/gpu/merge.py), so a GFLOP/s figure is
/// "model FLOPs per second", not hardware counters. Names match bench/gpu/reference.py.
/// </summary>
internal static class OpCatalog
{
    /// <summary>One op: name, loss (forward + backward) or relation (forward), the largest batch
    /// timed, the FLOP model (b, Ds, Dt, backward) and its factory.</summary>
    internal sealed record Spec(string Name, bool IsLoss, int MaxBatch, Func<long, long, long, bool, double> Flops,
        Func<IlgpuDevice, float[], float[], int, int, int, KernelOp> Create);

    /// <summary>Per-triplet FLOPs: ψ (3 adds, 2 products) = 5; the loss forward evaluates ψ on both
    /// sides and a smooth-L1 term (≈ 14); its backward's two passes evaluate ψ and h' for four
    /// orderings and accumulate three sums (≈ 40).</summary>
    public const double AngleFlops = 5, AngleLossForwardFlops = 14, AngleLossBackwardFlops = 40;

    static double Gram(long b, long d) => 2.0 * b * b * d;

    /// <summary>Forward: one Gram per side; backward: the student's (Ḡ + Ḡᵀ)X product.</summary>
    static double PairLoss(long b, long ds, long dt, bool backward) => Gram(b, ds) + Gram(b, dt) + (backward ? Gram(b, ds) : 0);

    public static readonly Spec[] All =
    [
        new("gram", false, int.MaxValue, (b, ds, _, _) => Gram(b, ds), (d, s, t, b, ds, dt) => new GramOp(d, s, t, b, ds, dt)),
        new("cosine", false, int.MaxValue, (b, ds, _, _) => Gram(b, ds), (d, s, t, b, ds, dt) => new CosineOp(d, s, t, b, ds, dt)),
        new("pdist", false, int.MaxValue, (b, ds, _, _) => Gram(b, ds), (d, s, t, b, ds, dt) => new PdistOp(d, s, t, b, ds, dt)),
        new("triplet_angles", false, 1024, (b, ds, _, _) => Gram(b, ds) + AngleFlops * b * b * b,
            (d, s, t, b, ds, dt) => new AnglesOp(d, s, t, b, ds, dt)),
        new("rkd_distance", true, int.MaxValue, PairLoss, (d, s, t, b, ds, dt) => new RkdDistanceOp(d, s, t, b, ds, dt)),
        new("rkd_angle", true, 1024,
            (b, ds, dt, bw) => PairLoss(b, ds, dt, bw) + (AngleLossForwardFlops + (bw ? AngleLossBackwardFlops : 0)) * b * b * b,
            (d, s, t, b, ds, dt) => new RkdAngleOp(d, s, t, b, ds, dt)),
        new("sp", true, int.MaxValue, PairLoss, (d, s, t, b, ds, dt) => new SpOp(d, s, t, b, ds, dt)),
        new("cc", true, int.MaxValue, PairLoss, (d, s, t, b, ds, dt) => new CcOp(d, s, t, b, ds, dt)),
        new("irg_edge", true, int.MaxValue, PairLoss, (d, s, t, b, ds, dt) => new IrgEdgeOp(d, s, t, b, ds, dt)),
    ];
}
