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

/// <summary>What the NST loss keeps: the stacked maps' channel norms [B·n] and unit rows Ẑ = [Ŝ; T̂] [B, n, N], and
/// their Gram G = ẐẐᵀ [B, n, n] (n = Cs + Ct).</summary>
public readonly record struct NstState<T>(Buf<T> Norms, Buf<T> Unit, Buf<T> G) where T : unmanaged;

/// <summary>
/// NST with the polynomial kernel (Huang &amp; Wang 2017; RepDistiller's <c>NSTLoss</c>, <c>full_loss = True</c>): per
/// image the spatially L2-normalised channels of both maps stacked, Ẑ = [Ŝ; T̂] [n = Cs + Ct, N], one Gram G = ẐẐᵀ —
/// its ss, st and tt blocks hold every dot product the three polynomial kernels square — and
/// L = Σ w(i, j)·G_ij² (<see cref="Ilgpu.NstKernels"/>). Backward: ∂L/∂G = 2w∘G with the tt block 0 (the published
/// teacher–teacher term is detached), Ẑ̄ = (M + Mᵀ)Ẑ, then the normalisation's backward. O(B·n²) memory; the
/// published code's [B, C, C, N] products never exist. Scalars stay on the device.
/// </summary>
public static class NstPrograms<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>F.normalize's eps on the spatial rows.</summary>
    public const double Eps = 1e-12;

    /// <summary>Forward of the maps xs [B, cs, N] and xt [B, n − cs, N], read in place: each side's row norms, the
    /// stacked unit rows and norms, G, then loss[0] = Σ w·G².</summary>
    public static void Forward(IKdDevice dev, Buf<T> xs, Buf<T> xt, NstState<T> st, Buf<T> loss, int batch, int n, int cs, int npix, double ws, double wst, double wt)
    {
        int rows = checked(batch * n), ct = n - cs;
        Buf<T> ns = dev.Alloc<T>((long)batch * cs), nt = dev.Alloc<T>((long)batch * ct);
        Rows<T>.Norms(dev, xs, ns, batch * cs, npix);
        Rows<T>.Norms(dev, xt, nt, batch * ct, npix);
        dev.Launch(K<T>.NstStackUnit, LaunchShape.Extent1((long)rows * npix), xs, ns, xt, nt, st.Unit.Need((long)rows * npix, "unit"),
                   st.Norms.Need(rows, "norms"), n, cs, npix, K<T>.C(Eps));
        Products<T>.Gram(dev, st.Unit, st.G, batch, n, npix);
        var partial = dev.Alloc<T>(rows);
        int w = dev.Traits.RowGroup;
        dev.Launch(K<T>.NstLossRows, LaunchShape.Groups(rows, 1, 1, w, 1, w * K<T>.Size), st.G, partial, n, cs, K<T>.C(ws), K<T>.C(wst), K<T>.C(wt));
        Rows<T>.Total(dev, partial, loss.Need(1, nameof(loss)), batch, n, 1.0);
    }

    /// <summary>Backward: zbar [B, n, N] = upstream[0]·∂L/∂z (the student's rows first, then the teacher's; the
    /// teacher–teacher term passes no gradient). Temporaries: M [B, n, n] and Ẑ̄ [B, n, N].</summary>
    public static void Backward(IKdDevice dev, NstState<T> st, Buf<T> upstream, Buf<T> zbar, int batch, int n, int cs, int npix, double ws, double wst)
    {
        long nn = (long)batch * n * n;
        var m = dev.Alloc<T>(nn);
        dev.Launch(K<T>.NstWeigh, LaunchShape.Extent1(nn), st.G, m, n, cs, K<T>.C(ws), K<T>.C(wst), T.Zero);
        var unitBar = dev.Alloc<T>((long)batch * n * npix);
        Products<T>.SymProduct(dev, m, st.Unit, unitBar, batch, n, npix);
        Rows<T>.NormalizeBackward(dev, unitBar, st.Unit, st.Norms, zbar, checked(batch * n), npix, Eps);
        Rows<T>.ScaleBy(dev, zbar, upstream);
    }
}

/// <summary>What the PKT loss keeps of one side: x [b, d] (read in place), its row norms [b], unit rows u [b, d] and
/// their Gram s [b, b].</summary>
public readonly record struct PktSide<T>(Buf<T> X, Buf<T> Norms, Buf<T> Unit, Buf<T> S) where T : unmanaged;

/// <summary>
/// PKT (Passalis &amp; Tefas, ECCV 2018; RepDistiller's <c>PKT.cosine_similarity_loss</c>): per side u = x/(‖x‖ + eps),
/// S = UUᵀ, then the row-normalised (S + 1)/2 and the KL terms in one row epilogue (<see cref="Ilgpu.PktKernels"/>):
/// no probability matrix is stored. Backward per side: one b×b epilogue, one product, the unit rows' backward.
/// Scalars stay on the device.
/// </summary>
public static class PktPrograms<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>One side: norms, unit rows and their Gram.</summary>
    public static void Side(IKdDevice dev, PktSide<T> side, int b, int d, double eps)
    {
        Rows<T>.Norms(dev, side.X, side.Norms, b, d);
        dev.Launch(K<T>.PktUnit, LaunchShape.Extent1((long)b * d), side.X, side.Norms, side.Unit.Need((long)b * d, "unit"), d, K<T>.C(eps));
        Products<T>.Gram(dev, side.Unit, side.S, 1, b, d);
    }

    /// <summary>Forward: both sides, then loss[0] = scale·Σ_i Σ_j q log((q + eps)/(p + eps)).</summary>
    public static void Forward(IKdDevice dev, PktSide<T> s, PktSide<T> t, Buf<T> loss, int b, int ds, int dt, double eps, double scale)
    {
        Side(dev, s, b, ds, eps);
        Side(dev, t, b, dt, eps);
        var partial = dev.Alloc<T>(b);
        int w = dev.Traits.RowGroup;
        dev.Launch(K<T>.PktLossRows, LaunchShape.Groups(b, 1, 1, w, 1, w * K<T>.Size), s.S, t.S, partial, b, K<T>.C(eps));
        dev.Launch(K<T>.Total, LaunchShape.Extent1(1), partial, loss.Need(1, nameof(loss)), b, K<T>.C(scale));
    }

    /// <summary>Backward of the student (<paramref name="teacher"/> false) or the teacher: H [b, b], Ū = (H + Hᵀ)U, x̄ from
    /// the unit rows' backward, times upstream[0].</summary>
    public static void Backward(IKdDevice dev, PktSide<T> s, PktSide<T> t, bool teacher, Buf<T> upstream, Buf<T> xbar, int b, int d, double eps, double scale)
    {
        var self = teacher ? t : s;
        var h = dev.Alloc<T>((long)b * b);
        int w = dev.Traits.RowGroup;
        dev.Launch(K<T>.PktBackwardRows, LaunchShape.Groups(b, 1, 1, w, 1, w * K<T>.Size), s.S, t.S, h, b, K<T>.C(eps), K<T>.C(scale), teacher ? 1 : 0);
        var ubar = dev.Alloc<T>((long)b * d);
        Products<T>.SymProduct(dev, h, self.Unit, ubar, 1, b, d);
        dev.Launch(K<T>.PktUnitBackward, LaunchShape.Extent1(b), ubar, self.X, self.Norms, xbar.Need((long)b * d, nameof(xbar)), d, K<T>.C(eps));
        Rows<T>.ScaleBy(dev, xbar, upstream);
    }
}
