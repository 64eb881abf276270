using static TorchSharp.torch;

namespace GpuKd.Ops;

internal static class TripletAngles
{
    public static Tensor Apply(Tensor x) => throw new NotImplementedException();
}
