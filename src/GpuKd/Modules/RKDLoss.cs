using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// Relational KD loss module (Park et al.): <c>forward(student, teacher)</c> returns
/// distance_weight · <see cref="gpukd.functional.rkd_distance_loss"/> +
/// angle_weight · <see cref="gpukd.functional.rkd_angle_loss"/> on [b, …] embeddings, each term under
/// <see cref="Loss{T1, T2, TResult}.reduction"/> (Mean: over b² and b³ entries; Sum: their sums; None is refused).
/// Create it with <see cref="gpukd.RKDLoss"/>.
/// </summary>
public sealed class RKDLoss : Loss<Tensor, Tensor, Tensor>
{
    /// <summary>Weight of the distance-wise term (paper: 25; metric learning: 1).</summary>
    public double DistanceWeight { get; }

    /// <summary>Weight of the angle-wise term (paper: 50; metric learning: 2).</summary>
    public double AngleWeight { get; }

    internal RKDLoss(double distanceWeight, double angleWeight, nn.Reduction reduction) : base(reduction)
    {
        if (!double.IsFinite(distanceWeight) || distanceWeight < 0)
            throw new ArgumentException($"distance_weight must be a finite number ≥ 0, got {distanceWeight}.", "distance_weight");
        if (!double.IsFinite(angleWeight) || angleWeight < 0)
            throw new ArgumentException($"angle_weight must be a finite number ≥ 0, got {angleWeight}.", "angle_weight");
        Reductions.MeanOrSum(reduction, nameof(RKDLoss), "the b² distance and b³ angle smooth-L1 differences");
        DistanceWeight = distanceWeight;
        AngleWeight = angleWeight;
    }

    /// <summary>The weighted RKD loss of <paramref name="student"/> against <paramref name="teacher"/> (scalar).</summary>
    public override Tensor forward(Tensor student, Tensor teacher)
    {
        using var scope = NewDisposeScope();
        Tensor? total = null;
        if (DistanceWeight != 0) total = DistanceWeight * gpukd.functional.rkd_distance_loss(student, teacher, reduction);
        if (AngleWeight != 0)
        {
            var angle = AngleWeight * gpukd.functional.rkd_angle_loss(student, teacher, reduction);
            total = total is null ? angle : total + angle;
        }
        total ??= zeros([], dtype: student.dtype, device: student.device);
        return total.MoveToOuterDisposeScope();
    }
}
