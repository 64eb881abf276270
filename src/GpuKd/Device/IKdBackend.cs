using static TorchSharp.torch;

namespace GpuKd.Device;

/// <summary>
/// The primitives every fused op is built from (DESIGN §3): two products and the
/// epilogues. Inputs are contiguous, float32 or float64, on the backend's device; outputs
/// are new tensors of the same dtype. Both backends implement the same maths.
/// </summary>
internal interface IKdBackend
{
    /// <summary>G = X Xᵀ per batch item: x [B, n, d] → [B, n, n].</summary>
    Tensor Gram(Tensor x);

    /// <summary>(M + Mᵀ) X per batch item: m [B, n, n], x [B, n, d] → [B, n, d].</summary>
    Tensor SymProduct(Tensor m, Tensor x);

    /// <summary><see cref="Gram"/> of one matrix: x [n, d] → contiguous [n, n] (a backend may skip the batch
    /// dimension's reshapes: per-op overhead dominates the losses at small b). With
    /// <paramref name="bitSymmetric"/> false the caller reads G only elementwise or by rows and does not need
    /// G_ij and G_ji to be the same bits (the CPU backend then skips its mirroring pass).</summary>
    Tensor Gram2(Tensor x, bool bitSymmetric = true) => Gram(x.unsqueeze(0)).squeeze(0).contiguous();

    /// <summary><see cref="SymProduct"/> of one matrix: m [n, n], x [n, d] → [n, d].</summary>
    Tensor SymProduct2(Tensor m, Tensor x) => SymProduct(m.unsqueeze(0), x.unsqueeze(0)).squeeze(0);

    /// <summary><see cref="SymProduct2"/> for an m the caller knows to be bit-symmetric, so that
    /// (M + Mᵀ)X = 2MX exactly (the CPU backend then forms no M + Mᵀ).</summary>
    Tensor SymProductOfSymmetric(Tensor m, Tensor x) => SymProduct2(m, x);

    /// <summary>Overflow-safe row norms: x [R, d] → [R].</summary>
    Tensor RowNorms(Tensor x);

    /// <summary>x / max(norms, eps) row-wise: x [R, d], norms [R] → [R, d].</summary>
    Tensor ScaleRows(Tensor x, Tensor norms, double eps);

    /// <summary>Backward of the row normalisation: (ȳ − y(y·ȳ))/n, 0 where n ≤ eps.</summary>
    Tensor NormalizeRowsBackward(Tensor ybar, Tensor y, Tensor norms, double eps);

    /// <summary>x − column means: [b, d] → [b, d].</summary>
    Tensor Centre(Tensor x);

    /// <summary>RKD pdist from the Gram g [n, n] of the centred features x [n, d].</summary>
    Tensor DistanceForward(Tensor g, Tensor x, bool squared, double clamp);

    /// <summary>Σ_k x_rk² accumulated in double: float32 x [R, d] → float64 [R] (the widened float32 path,
    /// <see cref="GpuKd.Kernels.Cpu.CpuWide"/>).</summary>
    Tensor SquaredNormsWide(Tensor x);

    /// <summary>Float32 leg tables (inv, ginv) of <see cref="Legs"/> with the leg lengths in double from the float32 Gram g,
    /// the centred rows x and their double squared norms.</summary>
    (Tensor Inv, Tensor GInv) LegsWide(Tensor g, Tensor x, Tensor norms, double tiny);

    /// <summary>x_r · v accumulated in double: float32 x [R, d], float64 v [d] → float64 [R].</summary>
    Tensor RowDotsWide(Tensor x, Tensor v);

    /// <summary>RKD pdist in float64 [n, n] from the float32 Gram g [n, n] of the centred float32 rows x [n, d]
    /// and their float64 squared norms (<see cref="SquaredNormsWide"/>): the epilogue of the widened float32 path.</summary>
    Tensor DistanceForwardWide(Tensor g, Tensor x, Tensor norms, bool squared, double clamp);

    /// <summary>Ḡ [n, n] with X̄ = (Ḡ+Ḡᵀ)X, from d̄ and the forward output.</summary>
    Tensor DistanceBackward(Tensor dbar, Tensor dist, bool squared, double clamp);

    /// <summary>Leg tables (inv, ginv) [n, n] of the angle op from the Gram g of the centred features x.</summary>
    (Tensor Inv, Tensor GInv) Legs(Tensor g, Tensor x, double tiny);

    /// <summary>ψ [n, n, n] from g and inv.</summary>
    Tensor AngleForward(Tensor g, Tensor inv);

    /// <summary>Ḡ [n, n] from the upstream gradient rbar [n, n, n].</summary>
    Tensor AngleBackward(Tensor g, Tensor inv, Tensor ginv, Tensor rbar);

    /// <summary>RKD distance loss row sums [n]: Σ_j smooth-L1(d·invMu − dO·invMuO).</summary>
    Tensor DistanceLossPartials(Tensor d, Tensor dO, double invMu, double invMuO);

    /// <summary>RKD distance loss d̄ [n, n] of the side with distances d (μ differentiated).</summary>
    Tensor DistanceLossBackward(Tensor d, Tensor dO, double invMu, double invMuO, double scale);

    /// <summary>RKD angle loss partial sums [n, n]: Σ_c smooth-L1(ψ_abc − ψ'_abc), ψ' from (gO, invO).</summary>
    Tensor AngleLossPartials(Tensor g, Tensor inv, Tensor gO, Tensor invO);

    /// <summary>RKD angle loss Ḡ [n, n] of one side, with ∂L/∂ψ = scale·clamp(ψ − ψ', −1, 1) recomputed.</summary>
    Tensor AngleLossBackward(Tensor g, Tensor inv, Tensor ginv, Tensor gO, Tensor invO, double scale);
}
