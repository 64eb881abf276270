using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// Correlation-congruence KD loss as a module: <c>forward(student, teacher)</c> =
/// <see cref="gpukd.functional.cc_loss"/> with the options given at creation (shapes, cost and memory
/// there). Create it with <see cref="gpukd.CCLoss"/>.
/// </summary>
public sealed class CCLoss : nn.Module<Tensor, Tensor, Tensor>
{
    internal CCLoss(CcKernel kernel, double gamma, int order) : base(nameof(CCLoss))
    {
        Ops.CcLoss.ValidateOptions(kernel, gamma, order);   // at creation, not at the first forward
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
    public override Tensor forward(Tensor student, Tensor teacher) => gpukd.functional.cc_loss(student, teacher, Kernel, Gamma, Order);
}
