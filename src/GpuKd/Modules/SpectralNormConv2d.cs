using TorchSharp;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace GpuKd.Modules;

/// <summary>
/// A spectral-normalised 2-D convolution (Miyato et al.), written here because TorchSharp 0.107 has no
/// <c>nn.utils.spectral_norm</c>: the weight used is W / σ(W), σ estimated by power iteration on W viewed as
/// [out, in·kh·kw]. As in PyTorch, one iteration runs per forward in training mode (u, v are buffers updated
/// without gradient, and σ = uᵀWv carries the gradient through W); in eval mode the stored u, v are used as is.
/// </summary>
public sealed class SpectralNormConv2d : nn.Module<Tensor, Tensor>
{
    readonly long _stride, _padding;
#pragma warning disable IDE1006 // TorchSharp registers fields by name
    readonly Parameter weight_orig;
    readonly Parameter bias;
    readonly Tensor u, v;
#pragma warning restore IDE1006

    /// <summary>A conv of kernel × kernel, stride and padding, weights initialised as TorchSharp's Conv2d does.</summary>
    public SpectralNormConv2d(long inChannels, long outChannels, long kernel, long stride, long padding) : base(nameof(SpectralNormConv2d))
    {
        _stride = stride;
        _padding = padding;
        using (var init = nn.Conv2d(inChannels, outChannels, kernel, stride, padding))
        {
            weight_orig = new Parameter(init.weight!.detach().clone());
            bias = new Parameter(init.bias!.detach().clone());
        }
        long cols = inChannels * kernel * kernel;
        u = nn.functional.normalize(randn(outChannels), p: 2, dim: 0);
        v = nn.functional.normalize(randn(cols), p: 2, dim: 0);
        RegisterComponents();
    }

    /// <summary>Current estimate of the largest singular value σ(W) (no gradient).</summary>
    public double Sigma
    {
        get
        {
            using var _ = no_grad();
            using var w = weight_orig.reshape(weight_orig.shape[0], -1);
            using var wv = w.mv(v);
            using var s = u.dot(wv);
            return s.to(ScalarType.Float64).item<double>();
        }
    }

    /// <summary>The layer applied to x [B, C, h, w].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var w = weight_orig.reshape(weight_orig.shape[0], -1);
        if (training)
        {
            using var _ = no_grad();
            v.copy_(nn.functional.normalize(w.t().mv(u), p: 2, dim: 0, eps: 1e-12));
            u.copy_(nn.functional.normalize(w.mv(v), p: 2, dim: 0, eps: 1e-12));
        }
        // Clones: the buffers are updated in place by the next training forward, while this graph still needs the
        // values it used (a discriminator runs several times before one backward: student, teacher, interpolation).
        var sigma = u.clone().dot(w.mv(v.clone()));
        var weight = weight_orig / sigma;
        return nn.functional.conv2d(x, weight, bias, strides: [_stride, _stride], padding: [_padding, _padding]).MoveToOuterDisposeScope();
    }
}
