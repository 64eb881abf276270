using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// Correlation-congruence KD loss as a module: <c>forward(student, teacher)</c> =
/// <see cref="gpukd.functional.cc_loss"/> with the options given at creation, under
/// <see cref="Loss{T1, T2, TResult}.reduction"/> (Mean over the b² entries, Sum, None refused); shapes, cost and memory
/// there. Create it with <see cref="gpukd.CCLoss"/>.
/// </summary>
public sealed class CCLoss : Loss<Tensor, Tensor, Tensor>
{
    internal CCLoss(CcKernel kernel, double gamma, int order, nn.Reduction reduction) : base(reduction)
    {
        Ops.CcLoss.ValidateOptions(kernel, gamma, order);   // at creation, not at the first forward
        Reductions.MeanOrSum(reduction, nameof(CCLoss), "the b² squared differences of the kernel entries");
        Kernel = kernel;
        Gamma = gamma;
        Order = order;
    }

    /// <summary>The kernel function f.</summary>
    public CcKernel Kernel { get; }

    /// <summary>RBF γ.</summary>
    public double Gamma { get; }

    /// <summary>Taylor order P.</summary>
    public int Order { get; }

    /// <summary>The CC loss of student [b, …] against teacher [b, …]; a 0-d tensor.</summary>
    public override Tensor forward(Tensor student, Tensor teacher) => gpukd.functional.cc_loss(student, teacher, Kernel, Gamma, Order, reduction);
}
