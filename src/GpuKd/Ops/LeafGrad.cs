using static TorchSharp.torch;

namespace GpuKd.Ops;

/// <summary>
/// Saves one gradient-sized copy per leaf input. TorchSharp's custom-function bridge keeps a managed reference to every
/// gradient a <c>backward</c> returns, so at a leaf libtorch's AccumulateGrad sees a use count of 2, cannot adopt the
/// tensor as <c>.grad</c> and clones it (measured: +16 MiB for the SKD pair-wise gradient at B = 8, 128 channels, 64×64).
/// A no-op view in front of the leaf puts a native ViewBackward between our node and the leaf; its output is a fresh view
/// of the same storage (use count 1), which AccumulateGrad adopts without a copy. Safe because every GpuKd backward
/// returns freshly computed tensors that nothing else keeps. Inside a network (non-leaf inputs) and without autograd it
/// does nothing.
/// </summary>
internal static class LeafGrad
{
    public static Tensor Shield(Tensor x)
        => x is null ? x! : !x.is_sparse && x.requires_grad && x.is_leaf && is_grad_enabled() ? x.view(x.shape) : x;
}
