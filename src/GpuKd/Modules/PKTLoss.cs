using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// PKT loss as a module: <c>forward(student, teacher)</c> = <see cref="gpukd.functional.pkt_loss"/> with this module's
/// eps and <c>reduction</c> (shapes, cost and memory there). Create it with <see cref="gpukd.PKTLoss"/>.
/// </summary>
public sealed class PKTLoss : Loss<Tensor, Tensor, Tensor>
{
    /// <summary>The published eps (norms and log ratio).</summary>
    public double eps { get; }

    internal PKTLoss(double eps, nn.Reduction reduction) : base(reduction)
    {
        Validate.Positive(eps, nameof(eps));
        Reductions.MeanOrSum(reduction, nameof(PKTLoss), "the b² conditional-probability KL entries");
        this.eps = eps;
    }

    /// <summary>The PKT loss of student [b, …] against teacher [b, …]; a 0-d tensor.</summary>
    public override Tensor forward(Tensor student, Tensor teacher) => gpukd.functional.pkt_loss(student, teacher, eps, reduction);
}
