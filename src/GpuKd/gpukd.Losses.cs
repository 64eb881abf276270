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

    /// <summary>The IRG loss module (options as <see cref="functional.irg_loss"/>). KD-Zoo's published
    /// <c>IRG(0.1, 5, 5)</c> over <c>[fm1, fm2, feat, out]</c> is <c>gpukd.IRGLoss(transitions: [(0, 1)])</c> called with
    /// <c>new IrgFeatures([fm1, fm2, feat], out)</c> for each network.</summary>
    public static IRGLoss IRGLoss(IrgPairing pairing = IrgPairing.OneToOne, double vertex_weight = 0.1, double edge_weight = 5,
        double transformation_weight = 5, bool differentiate_max = true, IReadOnlyList<(int from, int to)>? transitions = null)
        => new(pairing, vertex_weight, edge_weight, transformation_weight, differentiate_max, transitions);
}
