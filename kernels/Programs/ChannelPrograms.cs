using System.Numerics;
using GpuKd.Kernels.Launch;

namespace GpuKd.Kernels.Programs;

/// <summary>What the ICKD loss keeps of one side: the maps x [B, C, N] (read in place), the per-image channel Grams
/// g [B, C, C] and their row norms [B·C].</summary>
public readonly record struct IckdSide<T>(Buf<T> X, Buf<T> G, Buf<T> Norms) where T : unmanaged;

/// <summary>
/// The channel-relation losses' launch sequences (issue 16), written once for every device. ICKD (torchdistill's
/// <c>ChSimLoss</c>): per image the C×C Gram of the flattened map, rows L2-normalised (F.normalize, eps 1e-12),
/// L = Σ (Ĝ_S − Ĝ_T)² / count. It is SP-KD's epilogue on B·C rows of length C (<see cref="Ilgpu.SpKernels"/>: the
/// kernels index row i of a row-major table, so a batch of Grams is just more rows), one batched Gram per side, and
/// one batched product back. Scalars stay on the device: the loss total goes to a one-element buffer, the backward
/// runs for upstream 1 and scales X̄ by the upstream read from device memory.
/// </summary>
public static class IckdPrograms<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>F.normalize's eps on the Gram rows.</summary>
    public const double Eps = 1e-12;

    static LaunchShape RowGroups(IKdDevice dev, long rows)
    {
        int w = dev.Traits.RowGroup;
        return LaunchShape.Groups(checked((int)rows), 1, 1, w, 1, w * K<T>.Size);
    }

    /// <summary>One side: g[z] = x[z] x[z]ᵀ and the norms of its B·C rows.</summary>
    public static void Side(IKdDevice dev, IckdSide<T> side, int batch, int c, int n)
    {
        Products<T>.Gram(dev, side.X, side.G, batch, c, n);
        Rows<T>.Norms(dev, side.G, side.Norms, checked(batch * c), c);
    }

    /// <summary>Forward: both sides, then loss[0] = Σ_rows Σ_j (Ĝ_S − Ĝ_T)² / count (B·C row partials, column sums over
    /// the images, the C totals in order).</summary>
    public static void Forward(IKdDevice dev, IckdSide<T> s, IckdSide<T> t, Buf<T> loss, int batch, int c, int ns, int nt, double count)
    {
        Side(dev, s, batch, c, ns);
        Side(dev, t, batch, c, nt);
        long rows = (long)batch * c;
        var partial = dev.Alloc<T>(rows);
        dev.Launch(K<T>.SpLossRows, RowGroups(dev, rows), s.G, s.Norms, t.G, t.Norms, partial, c, K<T>.C(Eps));
        Rows<T>.Total(dev, partial, loss.Need(1, nameof(loss)), batch, c, 1.0 / count);
    }

    /// <summary>Backward of one side ("self" against "other"; the teacher's is the same call with the sides swapped):
    /// Ḡ = normalisation-backward of (2/count)(Ĝ_self − Ĝ_other) in one [B, C, C] temporary, X̄ = (Ḡ + Ḡᵀ)X per image,
    /// then the upstream scale.</summary>
    public static void Backward(IKdDevice dev, IckdSide<T> self, IckdSide<T> other, Buf<T> upstream, Buf<T> xbar, int batch, int c, int n, double count)
    {
        long rows = (long)batch * c;
        var gbar = dev.Alloc<T>(rows * c);
        dev.Launch(K<T>.SpBackwardRows, RowGroups(dev, rows), self.G, self.Norms, other.G, other.Norms, gbar, c, K<T>.C(Eps), K<T>.C(2.0 / count));
        Products<T>.SymProduct(dev, gbar, self.X, xbar, batch, c, n);
        Rows<T>.ScaleBy(dev, xbar, upstream);
    }
}
