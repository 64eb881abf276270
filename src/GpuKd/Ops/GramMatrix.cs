using static TorchSharp.torch;

namespace GpuKd.Ops;

internal static class GramMatrix
{
    public static Tensor Apply(Tensor x, bool normalizeRows) => throw new NotImplementedException();
}
