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
}
