using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// Test-only compositions of the Gram-form formulas of DESIGN §3 on centred features — the way
/// the library computes distances and angles, written independently of it. They are not oracles
/// for the ops: the sanity tests use them to show that the parity and float32 bars the op tests
/// demand are attainable by a Gram-form implementation (and that the offset cases are hard for
/// an uncentred one).
/// </summary>
public static class GramFormOracle
{
    const double Clamp = 1e-12;

    /// <summary>X − mean row: distances and angles are translation invariant. Without centring the
    /// Gram form loses ~‖offset‖²/‖spread‖² × ε of relative precision (the sanity tests show it).</summary>
    static Tensor Centred(Tensor x, bool centre)
    {
        var f = x.reshape(x.shape[0], -1);
        return centre ? f - f.mean([0], keepdim: true) : f;
    }

    /// <summary>q_ij = G_ii + G_jj − 2G_ij of the centred features (not clamped).</summary>
    static Tensor SquaredGramDistances(Tensor x, bool centre, out Tensor gram)
    {
        var c = Centred(x, centre);
        gram = c.mm(c.t());
        var diag = gram.diagonal();
        return diag.unsqueeze(1) + diag.unsqueeze(0) - 2 * gram;
    }

    /// <summary>pdist semantics: clamp at 1e-12, √ unless squared, diagonal exactly 0.</summary>
    public static Tensor PairwiseDistances(Tensor x, bool squared = false, bool centre = true)
    {
        var q = SquaredGramDistances(x, centre, out _).clamp_min(Clamp);
        if (!squared) q = q.sqrt();
        var eye = torch.eye(x.shape[0], dtype: ScalarType.Bool);
        return q.masked_fill(eye, 0.0);
    }

    /// <summary>
    /// A[a,b,c] = (G_bc − G_ab − G_ac + G_aa) / (d_ab d_ac); a leg with q ≤ 1e-12 or b = a is degenerate:
    /// 1/d = 0 there, so the entry is exactly 0 and passes no gradient.
    /// </summary>
    public static Tensor TripletAngles(Tensor x, bool centre = true)
    {
        var q = SquaredGramDistances(x, centre, out var g);
        var b = x.shape[0];
        var regular = (q > Clamp).logical_and(torch.eye(b, dtype: ScalarType.Bool).logical_not());
        var inv = where(regular, where(regular, q, ones_like(q)).rsqrt(), zeros_like(q));   // inv[a, b] = 1/d_ab
        var diag = g.diagonal();
        // num[a,b,c] = G_bc − G_ab − G_ac + G_aa
        var num = g.unsqueeze(0) - g.unsqueeze(2) - g.unsqueeze(1) + diag.reshape(b, 1, 1);
        return num * inv.unsqueeze(2) * inv.unsqueeze(1);
    }
}
