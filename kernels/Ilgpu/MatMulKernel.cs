using System.Numerics;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>Shape and strides of one batched product C[z] = A[z]·B[z] (row-major C).</summary>
/// <remarks>A(i,k) is read at aOff(z) + i·aRow + k·aCol; B(k,j) at bOff(z) + k·bRow + j·bCol,
/// so a transposed operand costs nothing: the Gram XXᵀ reads B(k,j) = X[j,k].</remarks>
public struct MatMulDims
{
    /// <summary>C is M×N, the inner dimension is K.</summary>
    public int M, N, K;
    /// <summary>Element strides of A, B and the batch strides of A, B, C.</summary>
    public long ARow, ACol, BRow, BCol, ABatch, BBatch, CBatch;
    /// <summary>1: A(i,k) reads A[i,k] + A[k,i] (square A), the backward product (Ḡ+Ḡᵀ)X.</summary>
    public int SymmetrizeA;
}

/// <summary>
/// The one product kernel of the library (DESIGN §3): the Gram G = XXᵀ and the backward
/// product X̄ = (Ḡ+Ḡᵀ)X. Classic shared-memory tiling, square groups of T×T threads, each
/// thread owning one output and summing k in ascending order — so results are
/// deterministic and G_ab is bit-identical to G_aa when rows a and b are equal (which
/// keeps exact duplicates at distance exactly zero).
/// </summary>
public static class MatMulKernel
{
    /// <summary>Grid: (⌈N/T⌉, ⌈M/T⌉, batch) groups of (T, T) threads; dynamic shared
    /// memory 2·T² elements.</summary>
    public static void MatMul<T>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, MatMulDims d)
        where T : unmanaged, INumber<T>
    {
        int tile = Group.DimX;
        var shared = SharedMemory.GetDynamic<T>();
        var aTile = shared.SubView(0, tile * tile);
        var bTile = shared.SubView(tile * tile, tile * tile);

        int tx = Group.IdxX, ty = Group.IdxY;
        int row = Grid.IdxY * tile + ty, col = Grid.IdxX * tile + tx;
        long z = Grid.IdxZ;
        long aBase = z * d.ABatch, bBase = z * d.BBatch;

        T acc = T.Zero;
        for (int k0 = 0; k0 < d.K; k0 += tile)
        {
            int ka = k0 + tx, kb = k0 + ty;
            T av = T.Zero;
            if (row < d.M && ka < d.K)
            {
                av = a[aBase + row * d.ARow + ka * d.ACol];
                if (d.SymmetrizeA != 0) av += a[aBase + ka * d.ARow + row * d.ACol];
            }
            aTile[ty * tile + tx] = av;
            bTile[ty * tile + tx] = row >= 0 && col < d.N && kb < d.K
                ? b[bBase + kb * d.BRow + col * d.BCol] : T.Zero;
            Group.Barrier();
            for (int k = 0; k < tile; k++) acc += aTile[ty * tile + k] * bTile[k * tile + tx];
            Group.Barrier();
        }
        if (row < d.M && col < d.N) c[z * d.CBatch + (long)row * d.N + col] = acc;
    }
}
