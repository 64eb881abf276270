using GpuKd.Modules;
using static TorchSharp.torch;

namespace GpuKd;

#pragma warning disable CS8981
public static partial class gpukd
#pragma warning restore CS8981
{
    /// <summary>The ICKD loss module (torchdistill's <c>ChSimLoss</c> for one feature pair):
    /// <c>gpukd.ICKDLoss().call(student_feat, teacher_feat)</c> = <see cref="functional.ickd_loss"/>.</summary>
    public static ICKDLoss ICKDLoss(nn.Reduction reduction = nn.Reduction.Mean) => new(reduction);

    /// <summary>The NST loss module (RepDistiller's <c>NSTLoss</c> for one feature pair, <c>full_loss = True</c>):
    /// <c>gpukd.NSTLoss().call(student_feat, teacher_feat)</c> = <see cref="functional.nst_loss"/>.</summary>
    public static NSTLoss NSTLoss(nn.Reduction reduction = nn.Reduction.Mean) => new(reduction);

    /// <summary>The PKT loss module (RepDistiller's <c>PKT</c>): <c>gpukd.PKTLoss().call(student, teacher)</c> =
    /// <see cref="functional.pkt_loss"/>.</summary>
    public static PKTLoss PKTLoss(double eps = 1e-7, nn.Reduction reduction = nn.Reduction.Mean) => new(eps, reduction);

    /// <summary>The DIST loss module (torchdistill's <c>DISTLoss</c>): <c>gpukd.DISTLoss().call(student_logits, teacher_logits)</c>
    /// = <see cref="functional.dist_loss"/>.</summary>
    public static DISTLoss DISTLoss(double beta = 1, double gamma = 1, double temperature = 1, nn.Reduction reduction = nn.Reduction.Mean)
        => new(beta, gamma, temperature, reduction);

    /// <summary>The FSP loss module (RepDistiller's <c>FSP</c>, its per-pair losses added with <paramref name="weights"/>):
    /// <c>gpukd.FSPLoss().call(student_layers, teacher_layers)</c> = <see cref="functional.fsp_loss"/>.</summary>
    public static FSPLoss FSPLoss(IReadOnlyList<double>? weights = null, nn.Reduction reduction = nn.Reduction.Mean) => new(weights, reduction);
}
