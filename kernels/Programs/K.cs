using System.Numerics;
using GpuKd.Kernels.Ilgpu;
using GpuKd.Kernels.Launch;

namespace GpuKd.Kernels.Programs;

/// <summary>The kernels the programs launch, for element type <typeparamref name="T"/> (one <see cref="KernelId"/> each).</summary>
internal static class K<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    static KernelId Of(Type owner, string name) => KernelId.Of(owner, name, typeof(T));

    public static readonly KernelId MatMul = Of(typeof(MatMulKernel), nameof(MatMulKernel.MatMul));
    public static readonly KernelId MatMulTiled = Of(typeof(MatMulTiledKernel), nameof(MatMulTiledKernel.MatMul));
    public static readonly KernelId MatMul16 = Of(typeof(MatMulTiledKernel), nameof(MatMulTiledKernel.MatMul16));
    public static readonly KernelId RowNorms = Of(typeof(RowKernels), nameof(RowKernels.RowNorms));
    public static readonly KernelId ScaleRows = Of(typeof(RowKernels), nameof(RowKernels.ScaleRows));
    public static readonly KernelId NormalizeRowsBackward = Of(typeof(RowKernels), nameof(RowKernels.NormalizeRowsBackward));
    public static readonly KernelId ColumnMeans = Of(typeof(RowKernels), nameof(RowKernels.ColumnMeans));
    public static readonly KernelId ColumnSums = Of(typeof(RowKernels), nameof(RowKernels.ColumnSums));
    public static readonly KernelId SubtractColumnMeans = Of(typeof(RowKernels), nameof(RowKernels.SubtractColumnMeans));
    public static readonly KernelId DistanceForward = Of(typeof(DistanceKernels), nameof(DistanceKernels.Forward));
    public static readonly KernelId DistanceBackward = Of(typeof(DistanceKernels), nameof(DistanceKernels.Backward));
    public static readonly KernelId DistanceLossPartials = Of(typeof(DistanceLossKernels), nameof(DistanceLossKernels.Partials));
    public static readonly KernelId DistanceLossResiduals = Of(typeof(DistanceLossKernels), nameof(DistanceLossKernels.Residuals));
    public static readonly KernelId DistanceLossFinish = Of(typeof(DistanceLossKernels), nameof(DistanceLossKernels.Finish));
    public static readonly KernelId Legs = Of(typeof(AngleKernels), nameof(AngleKernels.Legs));
    public static readonly KernelId AngleForward = Of(typeof(AngleKernels), nameof(AngleKernels.Forward));
    public static readonly KernelId AngleRowPassTensor = KernelId.Of(typeof(AngleKernels), nameof(AngleKernels.RowPass), typeof(T), typeof(AngleKernels.FromTensor<T>));
    public static readonly KernelId AngleRowPassLoss = KernelId.Of(typeof(AngleKernels), nameof(AngleKernels.RowPass), typeof(T), typeof(AngleKernels.FromLoss<T>));
    public static readonly KernelId AngleApexPassTensor = KernelId.Of(typeof(AngleKernels), nameof(AngleKernels.ApexPass), typeof(T), typeof(AngleKernels.FromTensor<T>));
    public static readonly KernelId AngleApexPassLoss = KernelId.Of(typeof(AngleKernels), nameof(AngleKernels.ApexPass), typeof(T), typeof(AngleKernels.FromLoss<T>));
    public static readonly KernelId AngleAssemble = Of(typeof(AngleKernels), nameof(AngleKernels.Assemble));
    public static readonly KernelId AngleLossPartials = Of(typeof(AngleKernels), nameof(AngleKernels.LossPartials));
    public static readonly KernelId SpLossRows = Of(typeof(SpKernels), nameof(SpKernels.LossRows));
    public static readonly KernelId SpBackwardRows = Of(typeof(SpKernels), nameof(SpKernels.BackwardRows));
    public static readonly KernelId NstLossRows = Of(typeof(NstKernels), nameof(NstKernels.LossRows));
    public static readonly KernelId NstStackUnit = Of(typeof(NstKernels), nameof(NstKernels.StackUnit));
    public static readonly KernelId NstWeigh = Of(typeof(NstKernels), nameof(NstKernels.Weigh));
    public static readonly KernelId PktUnit = Of(typeof(PktKernels), nameof(PktKernels.Unit));
    public static readonly KernelId PktLossRows = Of(typeof(PktKernels), nameof(PktKernels.LossRows));
    public static readonly KernelId PktBackwardRows = Of(typeof(PktKernels), nameof(PktKernels.BackwardRows));
    public static readonly KernelId PktUnitBackward = Of(typeof(PktKernels), nameof(PktKernels.UnitBackward));
    public static readonly KernelId FspLossRows = Of(typeof(FspKernels), nameof(FspKernels.LossRows));
    public static readonly KernelId FspSquareRows = Of(typeof(FspKernels), nameof(FspKernels.SquareRows));
    public static readonly KernelId FspScale = Of(typeof(FspKernels), nameof(FspKernels.Scale));
    public static readonly KernelId Total = Of(typeof(ScalarKernels), nameof(ScalarKernels.Total));
    public static readonly KernelId Reciprocal = Of(typeof(ScalarKernels), nameof(ScalarKernels.Reciprocal));
    public static readonly KernelId MuTerm = Of(typeof(ScalarKernels), nameof(ScalarKernels.MuTerm));
    public static readonly KernelId ScaleBy = Of(typeof(ScalarKernels), nameof(ScalarKernels.ScaleBy));

    public static readonly KernelId WideSquaredNorms = KernelId.Of(typeof(WideKernels), nameof(WideKernels.SquaredNorms), typeof(float));
    public static readonly KernelId WideDistanceForward = KernelId.Of(typeof(WideKernels), nameof(WideKernels.DistanceForward), typeof(float));
    public static readonly KernelId WideLegs = KernelId.Of(typeof(WideKernels), nameof(WideKernels.Legs), typeof(float));
    public static readonly KernelId SetDiagonal = KernelId.Of(typeof(WideKernels), nameof(WideKernels.SetDiagonal), typeof(float));
    public static readonly KernelId FillSum = Of(typeof(ScalarKernels), nameof(ScalarKernels.FillSum));
    public static readonly KernelId WideFspDifference = KernelId.Of(typeof(WideKernels), nameof(WideKernels.FspDifference), typeof(float));
    public static readonly KernelId ToSingle = KernelId.Of(typeof(WideKernels), nameof(WideKernels.ToSingle), typeof(float));

    /// <summary>True for float32: the epilogues that lose digits in float32 run widened (in double).</summary>
    public static bool Widened => typeof(T) == typeof(float);

    /// <summary>T from a double on the host (kernels take T scalars; int→T does not compile inside a kernel).</summary>
    public static T C(double v) => T.CreateTruncating(v);

    public static unsafe int Size => sizeof(T);
}
