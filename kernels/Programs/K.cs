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
    /// <summary>The pdist kernels for squared or Euclidean output (<see cref="Maths.IDistanceForm{T}"/>).</summary>
    public static KernelId DistanceForward(bool squared) => KernelId.Of(typeof(DistanceKernels), nameof(DistanceKernels.Forward), typeof(T), Form(squared));
    public static KernelId DistanceBackward(bool squared) => KernelId.Of(typeof(DistanceKernels), nameof(DistanceKernels.Backward), typeof(T), Form(squared));
    static Type Form(bool squared) => squared ? typeof(Maths.SquaredDistance<T>) : typeof(Maths.EuclideanDistance<T>);
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
    /// <summary>The CC epilogues for the kernel function type <paramref name="f"/> (an <see cref="Maths.ICcFunction{T}"/>).</summary>
    public static KernelId CcLossRows(Type f) => KernelId.Of(typeof(CcKernels), nameof(CcKernels.LossRows), typeof(T), f);
    public static KernelId CcBackward(Type f) => KernelId.Of(typeof(CcKernels), nameof(CcKernels.Backward), typeof(T), f);
    public static readonly KernelId EdgeRowMax = Of(typeof(EdgeKernels), nameof(EdgeKernels.RowMax));
    public static readonly KernelId EdgeMax = Of(typeof(EdgeKernels), nameof(EdgeKernels.Max));
    public static readonly KernelId EdgeMaxBar = Of(typeof(EdgeKernels), nameof(EdgeKernels.MaxBar));
    public static readonly KernelId EdgeLossRows = Of(typeof(EdgeKernels), nameof(EdgeKernels.LossRows));
    public static readonly KernelId EdgeDotRows = Of(typeof(EdgeKernels), nameof(EdgeKernels.DotRows));
    public static readonly KernelId EdgeBackward = Of(typeof(EdgeKernels), nameof(EdgeKernels.Backward));
    public static readonly KernelId Fill = Of(typeof(ScalarKernels), nameof(ScalarKernels.Fill));
    public static readonly KernelId Times = Of(typeof(ScalarKernels), nameof(ScalarKernels.Times));
    public static readonly KernelId DistRows = Of(typeof(DistKernels), nameof(DistKernels.Rows));
    public static readonly KernelId DistColumns = Of(typeof(DistKernels), nameof(DistKernels.Columns));
    public static readonly KernelId DistLoss = Of(typeof(DistKernels), nameof(DistKernels.Loss));
    public static readonly KernelId DistBackward = Of(typeof(DistKernels), nameof(DistKernels.Backward));
    public static readonly KernelId FspLossRows = Of(typeof(FspKernels), nameof(FspKernels.LossRows));
    public static readonly KernelId FspSquareRows = Of(typeof(FspKernels), nameof(FspKernels.SquareRows));
    public static readonly KernelId FspScale = Of(typeof(FspKernels), nameof(FspKernels.Scale));
    public static readonly KernelId Total = Of(typeof(ScalarKernels), nameof(ScalarKernels.Total));
    public static readonly KernelId Reciprocal = Of(typeof(ScalarKernels), nameof(ScalarKernels.Reciprocal));
    public static readonly KernelId MuTerm = Of(typeof(ScalarKernels), nameof(ScalarKernels.MuTerm));
    public static readonly KernelId ScaleBy = Of(typeof(ScalarKernels), nameof(ScalarKernels.ScaleBy));

    public static readonly KernelId WideSquaredNorms = KernelId.Of(typeof(WideKernels), nameof(WideKernels.SquaredNorms), typeof(float));
    /// <summary>The widened pdist (float32 in, double out) for squared or Euclidean output.</summary>
    public static KernelId WideDistanceForward(bool squared)
        => KernelId.Of(typeof(WideKernels), nameof(WideKernels.DistanceForward), squared ? typeof(Maths.SquaredDistance<double>) : typeof(Maths.EuclideanDistance<double>));
    public static readonly KernelId WideLegs = KernelId.Of(typeof(WideKernels), nameof(WideKernels.Legs), typeof(float));
    public static readonly KernelId WideAngleGram = KernelId.Of(typeof(WideKernels), nameof(WideKernels.AngleGram), typeof(float));
    public static readonly KernelId FillSum = Of(typeof(ScalarKernels), nameof(ScalarKernels.FillSum));
    public static readonly KernelId WideFspDifference = KernelId.Of(typeof(WideKernels), nameof(WideKernels.FspDifference), typeof(float));
    public static readonly KernelId ToSingle = KernelId.Of(typeof(WideKernels), nameof(WideKernels.ToSingle), typeof(float));

    public static readonly KernelId WideMeanDots = Wide(nameof(WideKernels.MeanDots));
    public static readonly KernelId WideOffsetGate = Wide(nameof(WideKernels.OffsetGate));
    public static readonly KernelId WideGateMean = Wide(nameof(WideKernels.GateMean));
    public static readonly KernelId WideAssembleGram = Wide(nameof(WideKernels.AssembleGram));
    public static readonly KernelId WideSymmetricHalf = Wide(nameof(WideKernels.SymmetricHalf));
    public static readonly KernelId WideSymmetricRowSums = Wide(nameof(WideKernels.SymmetricRowSums));
    public static readonly KernelId WideAddRowOuter = Wide(nameof(WideKernels.AddRowOuter));
    public static readonly KernelId WideDiagonalRoots = Wide(nameof(WideKernels.DiagonalRoots));
    public static readonly KernelId WideCosines = Wide(nameof(WideKernels.Cosines));
    public static readonly KernelId WideCosinesBackward = Wide(nameof(WideKernels.CosinesBackward));
    public static readonly KernelId WideTangentOnly = Wide(nameof(WideKernels.TangentOnly));

    static KernelId Wide(string name) => KernelId.Of(typeof(WideKernels), name, typeof(float));

    /// <summary>True for float32: the epilogues that lose digits in float32 run widened (in double).</summary>
    public static bool Widened => typeof(T) == typeof(float);

    /// <summary>T from a double on the host (kernels take T scalars; int→T does not compile inside a kernel).</summary>
    public static T C(double v) => T.CreateTruncating(v);

    public static unsafe int Size => sizeof(T);

    // Structured KD (issue 13): specialised by the widening T → double (Maths.IWiden) and, for the pixel-wise pass, the
    // term (W first: static fields initialise in textual order).
    static readonly Type W = Maths.Widen.Of(typeof(T));
    public static readonly KernelId SkdPixelwiseCe = KernelId.Of(typeof(SkdKernels), nameof(SkdKernels.Pixelwise), typeof(T), W, typeof(SkdKernels.CrossEntropy));
    public static readonly KernelId SkdPixelwiseKl = KernelId.Of(typeof(SkdKernels), nameof(SkdKernels.Pixelwise), typeof(T), W, typeof(SkdKernels.TemperatureKl));
    public static readonly KernelId SkdNarrow = KernelId.Of(typeof(SkdKernels), nameof(SkdKernels.Narrow), typeof(T), W);
    public static readonly KernelId SkdScaleGrad = Of(typeof(SkdKernels), nameof(SkdKernels.ScaleGrad));
    public static readonly KernelId SkdNodes64 = KernelId.Of(typeof(SkdKernels), nameof(SkdKernels.Nodes), typeof(T), W, typeof(double), typeof(Maths.DoubleWiden));
    public static readonly KernelId SkdNodes32 = KernelId.Of(typeof(SkdKernels), nameof(SkdKernels.Nodes), typeof(T), W, typeof(float), typeof(Maths.SingleWiden));
    public static readonly KernelId SkdDirectRows = KernelId.Of(typeof(SkdKernels), nameof(SkdKernels.DirectRows), typeof(T), W);
    public static readonly KernelId SkdDirectColumns = KernelId.Of(typeof(SkdKernels), nameof(SkdKernels.DirectColumns), typeof(T), W);
    public static readonly KernelId SkdDirectHatGrad = KernelId.Of(typeof(SkdKernels), nameof(SkdKernels.DirectHatGrad), typeof(T), W);
}
