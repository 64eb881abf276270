using System.Numerics;
using System.Runtime.CompilerServices;
using ILGPU;

namespace GpuKd.Kernels.Ilgpu;

/// <summary>
/// The register-tiled product (same contract as <see cref="MatMulKernel.MatMul{T}"/>: any strides,
/// batch, <see cref="MatMulDims.SymmetrizeA"/>). A group of TX×TY threads owns a (4·TY)×(4·TX)
/// block of C; each thread keeps a 4×4 micro-tile of it in 16 scalar accumulators (registers),
/// so every value read from shared memory feeds 4 multiply-adds instead of 1. K is staged
/// through shared memory in slices of <c>bk</c>. On CUDA: 16×16 threads, a 64×64 block, bk = 16.
/// <para>Determinism and the duplicate-row property are kept: every output is one accumulator
/// that adds A(i,k)·B(k,j) for k = 0, 1, … in ascending order with the same instruction
/// sequence, exactly as the naive kernel does (padding past K adds 0·0), so G_ab is
/// bit-identical to G_aa when rows a and b are equal.</para>
/// <para>The micro-tile is strided (thread (tx, ty) owns rows ty + TY·r and columns tx + TX·c),
/// so the shared-memory reads of a warp are broadcasts / consecutive and C's stores coalesce.
/// Tiles are stored k-major with a padded leading dimension (+1) against bank conflicts when
/// an operand is loaded k-fastest. Global loads go fastest along whichever index has stride 1
/// (k for XXᵀ's operands, j for the backward's X, i for the transposed half of Ḡ+Ḡᵀ).</para>
/// </summary>
public static class MatMulTiledKernel
{
    /// <summary>Outputs per thread along each axis (the 4×4 micro-tile is unrolled by hand).</summary>
    public const int Micro = 4;

    /// <summary>Dynamic shared memory in elements for TX×TY threads and slice <paramref name="bk"/>.</summary>
    internal static int SharedElements(int tx, int ty, int bk) => bk * (Micro * ty + 1) + bk * (Micro * tx + 1);

    /// <summary>The GPU shape: groups of exactly <see cref="Gpu"/>×<see cref="Gpu"/> threads, slice
    /// <see cref="Gpu"/>. Compile-time sizes let ptxas unroll the k loop and address shared memory
    /// with immediate offsets. Grid: (⌈N/64⌉, ⌈M/64⌉, batch); dynamic shared memory
    /// SharedElements(16, 16, 16) = 2080 elements.</summary>
    public static void MatMul16<T>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, MatMulDims d)
        where T : unmanaged, INumber<T>
        => Core(a, b, c, d, Gpu, Gpu, Gpu);

    /// <summary>Group side and K slice of <see cref="MatMul16{T}"/>.</summary>
    public const int Gpu = 16;

    /// <summary>Any shape: grid (⌈N/(4·TX)⌉, ⌈M/(4·TY)⌉, batch) groups of (TX, TY) threads, TX and TY
    /// multiples of 4, <paramref name="bk"/> dividing TX·TY; dynamic shared memory
    /// <see cref="SharedElements"/> elements. (ILGPU's CPU accelerator allows 16 threads per group.)</summary>
    public static void MatMul<T>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, MatMulDims d, int bk)
        where T : unmanaged, INumber<T>
        => Core(a, b, c, d, Group.DimX, Group.DimY, bk);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Core<T>(ArrayView<T> a, ArrayView<T> b, ArrayView<T> c, MatMulDims d, int nx, int ny, int bk)
        where T : unmanaged, INumber<T>
    {
        int tx = Group.IdxX, ty = Group.IdxY;
        int bm = Micro * ny, bn = Micro * nx, lda = bm + 1, ldb = bn + 1;
        int tid = ty * nx + tx, nt = nx * ny;
        var shared = SharedMemory.GetDynamic<T>();
        var aS = shared.SubView(0, bk * lda);
        var bS = shared.SubView(bk * lda, bk * ldb);

        int row0 = Grid.IdxY * bm, col0 = Grid.IdxX * bn;
        long z = Grid.IdxZ;
        long aBase = z * d.ABatch, bBase = z * d.BBatch;

        // Each thread's fixed share of a tile load, fastest along the index with stride 1.
        bool aKFast = d.ACol == 1, bKFast = d.BRow == 1;
        int aFirst = aKFast ? tid / bk : tid / bm, aStep = aKFast ? nt / bk : nt / bm, aFixed = aKFast ? tid % bk : tid % bm;
        int tFirst = aKFast ? tid / bm : tid / bk, tStep = aKFast ? nt / bm : nt / bk, tFixed = aKFast ? tid % bm : tid % bk;
        int bFirst = bKFast ? tid / bk : tid / bn, bStep = bKFast ? nt / bk : nt / bn, bFixed = bKFast ? tid % bk : tid % bn;
        int aEnd = aKFast ? bm : bk, tEnd = aKFast ? bk : bm, bEnd = bKFast ? bn : bk;

        T c00 = T.Zero, c01 = T.Zero, c02 = T.Zero, c03 = T.Zero;
        T c10 = T.Zero, c11 = T.Zero, c12 = T.Zero, c13 = T.Zero;
        T c20 = T.Zero, c21 = T.Zero, c22 = T.Zero, c23 = T.Zero;
        T c30 = T.Zero, c31 = T.Zero, c32 = T.Zero, c33 = T.Zero;

        for (int k0 = 0; k0 < d.K; k0 += bk)
        {
            // A(i, k) into aS[kk·lda + m].
            for (int s = aFirst; s < aEnd; s += aStep)
            {
                int m = aKFast ? s : aFixed, kk = aKFast ? aFixed : s;
                int i = row0 + m, k = k0 + kk;
                aS[kk * lda + m] = i < d.M && k < d.K ? a[aBase + i * d.ARow + k * d.ACol] : T.Zero;
            }
            if (d.SymmetrizeA != 0)
            {
                // + A(k, i) (square A): a second pass, fastest along i, where the transpose is contiguous.
                Group.Barrier();
                for (int s = tFirst; s < tEnd; s += tStep)
                {
                    int m = aKFast ? tFixed : s, kk = aKFast ? s : tFixed;
                    int i = row0 + m, k = k0 + kk;
                    if (i < d.M && k < d.K) aS[kk * lda + m] += a[aBase + k * d.ARow + i * d.ACol];
                }
            }
            // B(k, j) into bS[kk·ldb + n].
            for (int s = bFirst; s < bEnd; s += bStep)
            {
                int n = bKFast ? s : bFixed, kk = bKFast ? bFixed : s;
                int j = col0 + n, k = k0 + kk;
                bS[kk * ldb + n] = j < d.N && k < d.K ? b[bBase + k * d.BRow + j * d.BCol] : T.Zero;
            }
            Group.Barrier();

            int ao = ty, bo = tx;
            for (int kk = 0; kk < bk; kk++, ao += lda, bo += ldb)
            {
                T a0 = aS[ao], a1 = aS[ao + ny], a2 = aS[ao + 2 * ny], a3 = aS[ao + 3 * ny];
                T b0 = bS[bo], b1 = bS[bo + nx], b2 = bS[bo + 2 * nx], b3 = bS[bo + 3 * nx];
                c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
                c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
                c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
                c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
            }
            Group.Barrier();
        }

        long cBase = z * d.CBatch;
        int r0 = row0 + ty, q0 = col0 + tx;
        Row(c, cBase, d, r0, q0, nx, c00, c01, c02, c03);
        Row(c, cBase, d, r0 + ny, q0, nx, c10, c11, c12, c13);
        Row(c, cBase, d, r0 + 2 * ny, q0, nx, c20, c21, c22, c23);
        Row(c, cBase, d, r0 + 3 * ny, q0, nx, c30, c31, c32, c33);
    }

    /// <summary>Stores one micro-tile row (columns q0 + nx·c), skipping the ragged edge.</summary>
    static void Row<T>(ArrayView<T> c, long cBase, MatMulDims d, int row, int q0, int nx, T v0, T v1, T v2, T v3)
        where T : unmanaged, INumber<T>
    {
        if (row >= d.M) return;
        long o = cBase + (long)row * d.N;
        if (q0 < d.N) c[o + q0] = v0;
        if (q0 + nx < d.N) c[o + q0 + nx] = v1;
        if (q0 + 2 * nx < d.N) c[o + q0 + 2 * nx] = v2;
        if (q0 + 3 * nx < d.N) c[o + q0 + 3 * nx] = v3;
    }
}
