using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Maths;

/// <summary>
/// The triplet-angle numerator, written once for the ILGPU kernels (<see cref="Ilgpu.AngleKernels"/>) and the CPU
/// passes (<see cref="Cpu.CpuAngles"/>, whose SIMD loop repeats it lane-wise):
/// ψ_abc·d_ab·d_ac = (x_b − x_a)·(x_c − x_a) = G_bc + G_aa − G_ab − G_ac.
/// <para>
/// On the widened float32 path (issue 15 §3) G_aa = Σ_k x_ak² is the largest term (≈ the numerator itself for spread-out
/// rows) and one float32 rounding of it shifts every angle at apex a by the same amount: an error coherent over all b²
/// triplets of that apex, which the backward's sums over b and c do not average away. At student ≈ teacher, where
/// ∂L/∂ψ = ψ^S − ψ^T is 100× smaller than ψ, that rounding alone made the angle loss's float32 gradient 2–3× less
/// accurate than the published float32 composition (measured: a double G_aa with every other table entry rounded to
/// float and float32 passes reaches 0.2–0.3× the reference's error; a float32 G_aa, 1.3–2.4×). So the squared norm is
/// kept as a float pair: hi = (float)N_a on G's diagonal, lo = (float)(N_a − hi) on inv's diagonal (inv_aa is a zero
/// leg: never a weight; every angle with b = a or c = a is 0 by rule), and the numerator adds lo before G_aa's high part — one
/// more add per triplet. lo is 0 on every other path (plain leg tables), where adding it is exact.
/// </para>
/// </summary>
public static class AngleMath
{
    /// <summary>((G_bc − (G_ab + G_ac)) + lo_a) + G_aa, in T: the same bits for (b, c) and (c, b) (G bit-symmetric). The
    /// off-diagonal terms (≈ √D·|x|² for spread-out rows, against G_aa ≈ D·|x|²) and lo are combined first, so only the
    /// last add rounds at the numerator's own magnitude: one rounding of it, where ((G_bc + G_aa) − (G_ab + G_ac))
    /// rounded three times at that magnitude (measured: 2.6× the student ≈ teacher gradient error at b = 31, D = 257).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Numerator<T>(T gbc, T gaa, T gab, T gac, T lo) where T : unmanaged, IFloatingPointIeee754<T>
        => ((gbc - (gab + gac)) + lo) + gaa;

    /// <summary>The float32 pair of a squared norm N (double): hi = (float)N, lo = (float)(N − hi) (N − hi is exact in
    /// double; non-finite N gives a non-finite lo).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Hi(double norm) => (float)norm;

    /// <inheritdoc cref="Hi"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Lo(double norm) => (float)(norm - (float)norm);
}
