using TorchSharp;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace GpuKd.Modules;

/// <summary>
/// SAGAN self-attention over the h·w positions of a map x [B, C, h, w]: q = W_q x, k = W_k x (C/8 channels),
/// v = W_v x (1×1 convolutions), attention = softmax over positions of qᵀk, out = γ·(v·attentionᵀ) + x with γ a
/// learned scalar initialised to 0 (the block starts as the identity). Used on the discriminator's
/// down-sampled maps, where the (h·w)² attention matrix is small.
/// </summary>
public sealed class SelfAttention2d : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006
    readonly nn.Module<Tensor, Tensor> query, key, value;
    readonly Parameter gamma;
#pragma warning restore IDE1006

    /// <summary>Attention over a map of <paramref name="channels"/> channels.</summary>
    public SelfAttention2d(long channels) : base(nameof(SelfAttention2d))
    {
        long inner = Math.Max(1, channels / 8);
        query = nn.Conv2d(channels, inner, 1);
        key = nn.Conv2d(channels, inner, 1);
        value = nn.Conv2d(channels, channels, 1);
        gamma = new Parameter(zeros(1));
        RegisterComponents();
    }

    /// <summary>The layer applied to x [B, C, h, w].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], n = x.shape[2] * x.shape[3];
        var q = query.call(x).reshape(b, -1, n);
        var k = key.call(x).reshape(b, -1, n);
        var v = value.call(x).reshape(b, c, n);
        var attention = q.transpose(1, 2).bmm(k).softmax(-1);           // [B, N, N]
        var o = v.bmm(attention.transpose(1, 2)).reshape(x.shape);
        return (gamma * o + x).MoveToOuterDisposeScope();
    }
}
