using GpuKd.Kernels.Maths;
using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// PKT (Passalis &amp; Tefas, ECCV 2018; RepDistiller's <c>PKT.cosine_similarity_loss</c>) epilogues on the two Grams
/// S = UUᵀ of the unit rows u = x / (‖x‖ + eps): P = (S + 1)/2, p_ij = P_ij / Σ_k P_ik (likewise q for the teacher),
/// L = scale·Σ q·log((q + eps)/(p + eps)). One group of W threads per row (grid = b groups, W shared elements): two
/// lane reductions per row (the row sums, then the KL terms), a fixed tree — deterministic, no atomics.
/// </summary>
public static class PktKernels
{
    /// <summary>y = x / (norms[row] + eps) over [rows, d] (the published eps is added, not a clamp).</summary>
    public static void Unit<T>(Index1D i, ArrayView<T> x, ArrayView<T> norms, ArrayView<T> y, int d, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
        => y[i] = x[i] / (norms[i / d] + eps);

    static T RowSum<T>(ArrayView<T> g, long o, int n, ArrayView<T> lanes) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T s = T.Zero;
        for (int j = Group.IdxX; j < n; j += Group.DimX) s += g[o + j] + T.One;
        s = GroupReduce.Sum(lanes, s);
        return s / (T.One + T.One);   // Σ_j (S_ij + 1)/2
    }

    /// <summary>partial_i = Σ_j q_ij·log((q_ij + eps)/(p_ij + eps)) for the row i of the [n, n] Grams gs (student), gt,
    /// each term computed as <see cref="PktMath.KlTerm{T}"/> (the same sum: the rows of p and q both sum to 1).</summary>
    public static void LossRows<T>(ArrayView<T> gs, ArrayView<T> gt, ArrayView<T> partial, int n, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = Grid.IdxX;
        long o = (long)i * n;
        var lanes = SharedMemory.GetDynamic<T>();
        T rs = RowSum(gs, o, n, lanes), rt = RowSum(gt, o, n, lanes);
        T half = T.One / (T.One + T.One), s = T.Zero;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            T p = (gs[o + j] + T.One) * half / rs, q = (gt[o + j] + T.One) * half / rt;
            s += PktMath.KlTerm(p, q, eps);
        }
        s = GroupReduce.Sum(lanes, s);
        if (Group.IdxX == 0) partial[i] = s;
    }

    /// <summary>
    /// ∂L/∂S for one side, row i (scale = the loss's 1/b², or 1 for Sum): with the row's probabilities p (student) and
    /// q (teacher), g_ij = −q/(p + eps) for the student (<paramref name="teacher"/> = 0) or log((q + eps)/(p + eps)) +
    /// q/(q + eps) for the teacher (1); through the row normalisation h_ij = (g_ij − Σ_k g_ik·w_ik)/r_i with w the side's
    /// probabilities and r its row sum; ∂L/∂S_ij = scale·h_ij/2. Ū = (H + Hᵀ)U follows.
    /// </summary>
    public static void BackwardRows<T>(ArrayView<T> gs, ArrayView<T> gt, ArrayView<T> hbar, int n, T eps, T scale, int teacher)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = Grid.IdxX;
        long o = (long)i * n;
        var lanes = SharedMemory.GetDynamic<T>();
        T rs = RowSum(gs, o, n, lanes), rt = RowSum(gt, o, n, lanes);
        T half = T.One / (T.One + T.One), dot = T.Zero;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            T p = (gs[o + j] + T.One) * half / rs, q = (gt[o + j] + T.One) * half / rt;
            T g = PktMath.Grad(p, q, eps, teacher);
            dot += g * (teacher == 0 ? p : q);
        }
        dot = GroupReduce.Sum(lanes, dot);
        T r = teacher == 0 ? rs : rt;
        for (int j = Group.IdxX; j < n; j += Group.DimX)
        {
            T p = (gs[o + j] + T.One) * half / rs, q = (gt[o + j] + T.One) * half / rt;
            T g = PktMath.Grad(p, q, eps, teacher);
            hbar[o + j] = scale * half * (g - dot) / r;
        }
    }

    /// <summary>Backward of u = x/(n + eps), n = ‖x‖, one thread per row: x̄ = ū/(n + eps) − x(x·ū)/(n(n + eps)²), the
    /// second term 0 at a zero row (the norm's subgradient 0 there; the published sqrt(Σx²) gives NaN).</summary>
    public static void UnitBackward<T>(Index1D r, ArrayView<T> ubar, ArrayView<T> x, ArrayView<T> norms, ArrayView<T> xbar, int d, T eps)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int row = r;
        long o = (long)row * d;
        T n = norms[row], dot = T.Zero;
        for (int k = 0; k < d; k++) dot += x[o + k] * ubar[o + k];
        T a = T.One / (n + eps), f = n == T.Zero ? T.Zero : dot * a * a / n;
        for (int k = 0; k < d; k++) xbar[o + k] = ubar[o + k] * a - x[o + k] * f;
    }
}
