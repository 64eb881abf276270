using GpuKd.Modules;

namespace GpuKd;

#pragma warning disable CS8981
public static partial class gpukd
#pragma warning restore CS8981
{
    /// <summary>The similarity-preserving KD loss module: <c>loss = gpukd.SPLoss().call(student, teacher)</c>.</summary>
    public static SPLoss SPLoss() => new();

    /// <summary>The correlation-congruence KD loss module (options as <see cref="functional.cc_loss"/>).</summary>
    public static CCLoss CCLoss(CcKernel kernel = CcKernel.TaylorRbf, double gamma = 0.4, int order = 2) => new(kernel, gamma, order);
}
