using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// ICKD loss as a module: <c>forward(student_feat, teacher_feat)</c> = <see cref="gpukd.functional.ickd_loss"/> with this
/// module's <c>reduction</c> (shapes, cost and memory there). Create it with <see cref="gpukd.ICKDLoss"/>.
/// </summary>
public sealed class ICKDLoss : Loss<Tensor, Tensor, Tensor>
{
    internal ICKDLoss(nn.Reduction reduction) : base(reduction)
    {
        Reductions.MeanOrSum(reduction, nameof(ICKDLoss), "the B·C² channel-similarity entries");
    }

    /// <summary>The ICKD loss of student maps [B, C, …] against teacher maps [B, C, …]; a 0-d tensor.</summary>
    public override Tensor forward(Tensor student_feat, Tensor teacher_feat) => gpukd.functional.ickd_loss(student_feat, teacher_feat, reduction);
}
