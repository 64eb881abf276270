using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// Similarity-preserving KD loss as a module: <c>forward(student, teacher)</c> =
/// <see cref="gpukd.functional.sp_loss(Tensor, Tensor, nn.Reduction)"/> under <see cref="Loss{T1, T2, TResult}.reduction"/>
/// (Mean: Σ over the b² entries / b², the authors'; Sum: that sum; None is refused). Shapes, cost and memory there.
/// Create it with <see cref="gpukd.SPLoss"/>.
/// </summary>
public sealed class SPLoss : Loss<Tensor, Tensor, Tensor>
{
    internal SPLoss(nn.Reduction reduction) : base(reduction)
        => Reductions.MeanOrSum(reduction, nameof(SPLoss), "the b² squared differences of the normalised Gram entries");

    /// <summary>The SP loss of student [b, …] against teacher [b, …]; a 0-d tensor.</summary>
    public override Tensor forward(Tensor student, Tensor teacher) => gpukd.functional.sp_loss(student, teacher, reduction);
}
