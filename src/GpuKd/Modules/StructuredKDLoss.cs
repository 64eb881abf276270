using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// Structured KD loss module (Liu et al.): <c>forward(student_logits, teacher_logits, student_feat, teacher_feat)</c>
/// returns pixel_weight · <see cref="gpukd.functional.skd_pixelwise_loss"/>(logits) +
/// pair_weight · <see cref="gpukd.functional.skd_pairwise_loss"/>(features), each term under
/// <see cref="Loss{T1, T2, T3, T4, TResult}.reduction"/> (Mean: the published normalisations; Sum: the pixel-wise
/// loss summed over its B·H·W pixel terms and the pair-wise over its B·N² entries; None refused). The holistic
/// (adversarial) term needs its own optimiser step for the discriminator; see <see cref="SkdDiscriminator"/>.
/// Create it with <see cref="gpukd.StructuredKDLoss"/>.
/// </summary>
public sealed class StructuredKDLoss : Loss<Tensor, Tensor, Tensor, Tensor, Tensor>
{
    /// <summary>Weight of the pixel-wise term (paper: 10).</summary>
    public double PixelWeight { get; }

    /// <summary>Weight of the pair-wise term (paper: 1; the authors' script 0.5).</summary>
    public double PairWeight { get; }

    /// <summary>Pooling window fraction of the pair-wise term.</summary>
    public double Scale { get; }

    /// <summary>Node pooling of the pair-wise term.</summary>
    public SkdPool Pool { get; }

    /// <summary>Softmax temperature of the pixel-wise term (cross-entropy mode).</summary>
    public double Temperature { get; }

    internal StructuredKDLoss(double pixelWeight, double pairWeight, double scale, SkdPool pool, double temperature, nn.Reduction reduction)
        : base(reduction)
    {
        Reductions.MeanOrSumOfParts(reduction, nameof(StructuredKDLoss), "pixel-wise: B·H·W pixel terms, pair-wise: B·N² entries");
        if (!double.IsFinite(pixelWeight) || pixelWeight < 0)
            throw new ArgumentException($"pixel_weight must be a finite number ≥ 0, got {pixelWeight}.", "pixel_weight");
        if (!double.IsFinite(pairWeight) || pairWeight < 0)
            throw new ArgumentException($"pair_weight must be a finite number ≥ 0, got {pairWeight}.", "pair_weight");
        if (!(scale > 0 && scale <= 1)) throw new ArgumentException($"scale must be in (0, 1], got {scale}.", "scale");
        if (!Enum.IsDefined(pool)) throw new ArgumentException($"pool must be Max, Average or None, got {(int)pool}.", "pool");
        Validate.Positive(temperature, "temperature");
        PixelWeight = pixelWeight;
        PairWeight = pairWeight;
        Scale = scale;
        Pool = pool;
        Temperature = temperature;
    }

    /// <summary>The weighted loss (scalar): logits [B, K, H, W] each; features [B, Cs, H', W'] and [B, Ct, H', W'].</summary>
    public override Tensor forward(Tensor student_logits, Tensor teacher_logits, Tensor student_feat, Tensor teacher_feat)
    {
        using var scope = NewDisposeScope();
        Tensor? total = null;
        if (PixelWeight != 0) total = PixelWeight * gpukd.functional.skd_pixelwise_loss(student_logits, teacher_logits, Temperature, reduction: reduction);
        if (PairWeight != 0)
        {
            var pair = PairWeight * gpukd.functional.skd_pairwise_loss(student_feat, teacher_feat, Scale, Pool, reduction: reduction);
            total = total is null ? pair : total + pair;
        }
        total ??= zeros([], dtype: student_logits.dtype, device: student_logits.device);
        return total.MoveToOuterDisposeScope();
    }
}
