using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// NST loss as a module: <c>forward(student_feat, teacher_feat)</c> = <see cref="gpukd.functional.nst_loss"/> with this
/// module's <c>reduction</c> (shapes, cost and memory there). Create it with <see cref="gpukd.NSTLoss"/>.
/// </summary>
public sealed class NSTLoss : Loss<Tensor, Tensor, Tensor>
{
    internal NSTLoss(nn.Reduction reduction) : base(reduction)
    {
        Reductions.MeanOrSum(reduction, nameof(NSTLoss), "the B·(Cs² + Ct² + Cs·Ct) kernel entries");
    }

    /// <summary>The NST loss of student maps [B, Cs, H, W] against teacher maps [B, Ct, H′, W′]; a 0-d tensor.</summary>
    public override Tensor forward(Tensor student_feat, Tensor teacher_feat) => gpukd.functional.nst_loss(student_feat, teacher_feat, reduction);
}
