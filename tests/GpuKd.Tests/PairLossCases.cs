using GpuKd.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// One two-input loss variant under test (student, teacher → scalar), with the published composition
/// (<see cref="ReferenceLosses"/>) and the degenerate-aware oracle (same values; no gradient through a
/// degenerate normalisation). The generic tests in <see cref="PairLossTests"/> run over every case.
/// </summary>
public sealed record PairLossCase(string Name, Func<Tensor, Tensor, Tensor> Ours, Func<Tensor, Tensor, Tensor> Reference,
                                  Func<Tensor, Tensor, Tensor> Oracle)
{
    /// <summary>A zero sample is a degenerate normalisation: the reference's gradient is ~1e10–1e12 there, ours finite.</summary>
    public bool ZeroRowDiverges { get; init; }

    /// <summary>The loss is translation invariant (distances): features offset by 100 keep float32 precision.</summary>
    public bool TranslationInvariant { get; init; }

    /// <summary>
    /// False where the documented gradient is deliberately not the derivative of the value (the IRG max held
    /// constant, as the authors' Caffe code does): central differences do not apply; the float64 parity test
    /// compares it with the reference's detached max instead.
    /// </summary>
    public bool GradientIsDerivative { get; init; } = true;

    public override string ToString() => Name;
}

/// <summary>The table of two-input loss cases.</summary>
public static class PairLossCases
{
    public const string Sp = "sp_loss";
    public const string Cc = "cc_loss";
    public const string CcTaylor5 = "cc_loss_taylor_order5_gamma1";
    public const string CcRbf = "cc_loss_rbf";
    public const string CcBilinear = "cc_loss_bilinear";
    public const string CcBilinearRaw = "cc_loss_bilinear_raw";
    public const string IrgEdge = "irg_edge_loss";
    public const string IrgEdgeMaxConstant = "irg_edge_loss_max_held_constant";

    static readonly PairLossCase[] All =
    [
        new(Sp, (s, t) => gpukd.functional.sp_loss(s, t), ReferenceLosses.SpLoss, LossOracles.Sp) { ZeroRowDiverges = true },
        Cc_(Cc, CcKernel.TaylorRbf, 0.4, 2),
        Cc_(CcTaylor5, CcKernel.TaylorRbf, 1.0, 5),
        Cc_(CcRbf, CcKernel.Rbf, 0.4, 2),
        Cc_(CcBilinear, CcKernel.Bilinear, 0.4, 2),
        Cc_(CcBilinearRaw, CcKernel.BilinearRaw, 0.4, 2),
        new(IrgEdge, (s, t) => gpukd.functional.irg_edge_loss(s, t), (s, t) => ReferenceLosses.IrgEdgeLoss(s, t), (s, t) => ReferenceLosses.IrgEdgeLoss(s, t))
            { TranslationInvariant = true },
        new(IrgEdgeMaxConstant, (s, t) => gpukd.functional.irg_edge_loss(s, t, differentiate_max: false),
            (s, t) => ReferenceLosses.IrgEdgeLoss(s, t, false), (s, t) => ReferenceLosses.IrgEdgeLoss(s, t, false))
            { TranslationInvariant = true, GradientIsDerivative = false },
    ];

    static PairLossCase Cc_(string name, CcKernel k, double gamma, int order)
        => new(name, (s, t) => gpukd.functional.cc_loss(s, t, k, gamma, order), (s, t) => ReferenceLosses.CcLoss(s, t, k, gamma, order),
               (s, t) => LossOracles.Cc(s, t, k, gamma, order))
        { ZeroRowDiverges = k != CcKernel.BilinearRaw };

    public static IEnumerable<string> Names => All.Select(c => c.Name);

    public static IEnumerable<string> TranslationInvariantNames => All.Where(c => c.TranslationInvariant).Select(c => c.Name);

    public static IEnumerable<string> DifferentiableNames => All.Where(c => c.GradientIsDerivative).Select(c => c.Name);

    public static PairLossCase Get(string name) => All.Single(c => c.Name == name);
}

/// <summary>Degenerate-aware float64 oracles of the losses: the <see cref="ReferenceLosses"/> formulas with
/// <see cref="DegenerateAwareOracle.Normalize"/> in place of F.normalize.</summary>
public static class LossOracles
{
    public static Tensor Sp(Tensor student, Tensor teacher)
    {
        long b = student.shape[0];
        var diff = DegenerateAwareOracle.GramMatrix(teacher, true) - DegenerateAwareOracle.GramMatrix(student, true);
        return (diff * diff).sum() / (double)(b * b);
    }

    /// <summary>CC with the degenerate-aware normalisation (the kernel functions as in <see cref="ReferenceLosses.CcKernelMatrix"/>).</summary>
    public static Tensor Cc(Tensor student, Tensor teacher, CcKernel k, double gamma, int order)
    {
        Tensor K(Tensor x)
        {
            var f = x.reshape(x.shape[0], -1);
            if (k == CcKernel.BilinearRaw) return f.mm(f.t());
            var xn = DegenerateAwareOracle.Normalize(f);
            var a = xn.mm(xn.t());
            if (k == CcKernel.Bilinear) return a;
            if (k == CcKernel.Rbf) return (2 * gamma * (a - 1)).exp();
            // Horner form of the Taylor series: a different evaluation order from the reference's.
            double c0 = Math.Exp(-2 * gamma);
            var coef = new double[order + 1];
            coef[0] = c0;
            for (int p = 1; p <= order; p++) coef[p] = coef[p - 1] * 2 * gamma / p;
            var acc = full_like(a, coef[order]);
            for (int p = order - 1; p >= 0; p--) acc = acc * a + coef[p];
            return acc;
        }
        return (K(student) - K(teacher)).square().mean();
    }
}

/// <summary>Value and gradients of a scalar two-input loss with a fixed upstream gradient.</summary>
public static class PairAutodiff
{
    /// <summary>Upstream gradient of the scalar loss: not 1, so that a backward ignoring it fails.</summary>
    public const double Upstream = 1.37;

    /// <summary>f(s, t) and its gradients (null for an input that does not require one).</summary>
    public static (Tensor Value, Tensor? GradS, Tensor? GradT) Run(Func<Tensor, Tensor, Tensor> f, Tensor s, Tensor t,
                                                                      bool gradS = true, bool gradT = true)
    {
        var ls = s.detach().clone().requires_grad_(gradS);
        var lt = t.detach().clone().requires_grad_(gradT);
        var value = f(ls, lt);
        if (gradS || gradT) (value * Upstream).backward();
        return (value.detach(), gradS ? ls.grad!.detach() : null, gradT ? lt.grad!.detach() : null);
    }
}
