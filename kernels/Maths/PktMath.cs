using System.Numerics;

namespace GpuKd.Kernels.Maths;

/// <summary>Scalar maths of the PKT kernels, shared with the CPU path (not a kernel: kept out of the catalog).</summary>
public static class PktMath
{
    /// <summary>
    /// The KL term plus (p − q), which adds Σ_j (p_ij − q_ij) = 0 to each row but removes the terms' first-order part
    /// (they cancel across j when q ≈ p, and their rounding does not): with u = (p − q)/(q + eps),
    /// q·log((q + eps)/(p + eps)) + p − q = (q + eps)·φ(u) + eps·(u − φ(u)), φ(u) = u − log(1 + u) ≥ 0, summed as the
    /// series u²/2 − u³/3 + … for |u| ≤ 1/8 (20 terms: below 1e-17 relative) and directly otherwise.
    /// </summary>
    public static T KlTerm<T>(T p, T q, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T qe = q + eps, u = (p - q) / qe, phi = Phi(u, p, qe, eps);
        return qe * phi + eps * (u - phi);
    }

    /// <summary>φ(u) = u − log(1 + u) for u = (p − q)/qe, qe = q + eps (1 + u = (p + eps)/qe): the series for |u| ≤ 1/8,
    /// else directly. log(1 + u) = u − φ(u) is then accurate for small u too.</summary>
    public static T Phi<T>(T u, T p, T qe, T eps) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T eighth = T.One / (T.One + T.One + T.One + T.One + T.One + T.One + T.One + T.One);
        if (!(T.Abs(u) <= eighth)) return u - KernelMath.Log((p + eps) / qe);
        // φ = u²·Σ_{k≥2} (−u)^(k−2)/k, Horner from k = 21 down.
        T acc = T.Zero, k = T.One;
        for (int i = 0; i < 20; i++) k += T.One;   // k = 21
        for (int i = 0; i < 20; i++) { acc = T.One / k - u * acc; k -= T.One; }
        return u * u * acc;
    }

    /// <summary>∂L/∂p (student) or ∂L/∂q (teacher) of one term, less a constant (−1 for the student, +1 for the teacher)
    /// that the row normalisation's backward removes exactly (the side's row sums to 1): −q/(p + eps) + 1 =
    /// (p − q + eps)/(p + eps); log((q + eps)/(p + eps)) + q/(q + eps) − 1 = −log(1 + u) − eps/(q + eps). Without the
    /// constant the terms are small where q ≈ p, so their rounding is too.</summary>
    public static T Grad<T>(T p, T q, T eps, int teacher) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (teacher == 0) return (p - q + eps) / (p + eps);
        T qe = q + eps, u = (p - q) / qe, eighth = T.One / (T.One + T.One + T.One + T.One + T.One + T.One + T.One + T.One);
        // −log(1 + u) directly off the series' range: φ(u) − u there would cancel u (up to 1/eps) against itself.
        if (!(T.Abs(u) <= eighth)) return -KernelMath.Log((p + eps) / qe) - eps / qe;
        return Phi(u, p, qe, eps) - u - eps / qe;
    }

}
