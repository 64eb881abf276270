using System.Numerics;
using System.Runtime.CompilerServices;

namespace GpuKd.Kernels.Maths;

/// <summary>
/// The triplet-angle numerator and the widened float32 angle Gram, written once for the ILGPU kernels
/// (<see cref="Ilgpu.AngleKernels"/>, <see cref="Ilgpu.WideKernels"/>) and the CPU kernels (<see cref="Cpu.CpuAngles"/>,
/// whose SIMD loop repeats the numerator lane-wise, and <see cref="Cpu.CpuWide"/>):
/// ψ_abc·d_ab·d_ac = (x_b − x_a)·(x_c − x_a) = G_bc − G_ab − G_ac + G_aa.
/// <para>
/// Float32 (issue 15 §3). At student ≈ teacher ∂L/∂ψ = ψ^S − ψ^T is ~10⁻³ of ψ, so every rounding of ψ's numerator
/// counts 10³-fold in the gradient. Measured (b = 31, D = 257, float32 passes fed exact tables with one step rounded
/// at a time; student-gradient error, the float32 reference composition 2.2e-5): all exact then ψ rounded once 2.9e-6;
/// the leg tables rounded 1.1e-5; G_aa rounded to float 2.8e-5 (its error is the same for all b² angles of apex a: a
/// coherent error that the backward's sums do not average away); the numerator formed as ((G_bc + G_aa) − (G_ab + G_ac))
/// 2.7e-5 (three roundings at the magnitude of G_aa ≈ D|x|², where the off-diagonal terms are ≈ √D|x|²). Hence:
/// (1) the small terms first, G_aa last (<see cref="Numerator{T}"/>): one rounding at the numerator's magnitude, same
/// op count, the same bits for (b, c) and (c, b); (2) the float32 table is the pseudo-Gram
/// G' = G − (ℓ1ᵀ + 1ℓᵀ)/2 with ℓ_x = N_x − (float)N_x (N_x the double squared norm), i.e. G'_xx = (float)N_x exactly
/// and G'_xy = (float)(G_xy − (ℓ_x + ℓ_y)/2): every numerator and every distance G'_aa + G'_bb − 2G'_ab is unchanged
/// (the shift cancels in both), but the diagonal's rounding is gone — the shift moves it into the off-diagonal entries,
/// whose own rounding is √D times smaller (<see cref="ShiftedGram"/>).
/// </para>
/// </summary>
public static class AngleMath
{
    /// <summary>(G_bc − (G_ab + G_ac)) + G_aa in T: the same bits for (b, c) and (c, b) (G bit-symmetric).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T Numerator<T>(T gbc, T gaa, T gab, T gac) where T : unmanaged, IFloatingPointIeee754<T>
        => (gbc - (gab + gac)) + gaa;

    /// <summary>G'_xx = the squared norm N_x (double) rounded once to float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Diagonal(double norm) => (float)norm;

    /// <summary>G'_xy (x ≠ y) = G_xy − (ℓ_x + ℓ_y)/2 rounded once, ℓ = N − (float)N (exact in double); symmetric in x, y.
    /// Non-finite norms give a non-finite entry.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ShiftedGram(double gxy, double normX, double normY)
        => (float)(gxy - ((normX - (float)normX) + (normY - (float)normY)) * 0.5);
}
