namespace GpuKd;

/// <summary>The kernel K = f(A) of the correlation-congruence loss (REFERENCE.md CC), applied elementwise
/// to the correlation matrix A = x̂x̂ᵀ of L2-normalised rows (x̂ = x / max(‖x‖, 1e-12)).</summary>
public enum CcKernel
{
    /// <summary>Gaussian RBF by its order-P Taylor series: K = Σ_{p=0..P} e^{−2γ}(2γ)^p/p! · A^p (the paper's default).</summary>
    TaylorRbf = 0,
    /// <summary>Exact Gaussian RBF: K = e^{−2γ(1−A)}.</summary>
    Rbf = 1,
    /// <summary>Bilinear on normalised rows: K = A = x̂x̂ᵀ.</summary>
    Bilinear = 2,
    /// <summary>Bilinear without normalisation: K = xxᵀ.</summary>
    BilinearRaw = 3,
}
