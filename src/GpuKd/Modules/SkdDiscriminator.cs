using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Modules;

/// <summary>
/// The holistic-distillation discriminator of structured KD (Liu et al.; REFERENCE.md): a WGAN critic that scores
/// segmentation logits [B, K, H, W] (optionally concatenated with the image). Layers: <c>depth</c> spectral-normalised
/// 4×4 stride-2 convolutions (padding 1; channels base, 2·base, 4·base, …), each followed by LeakyReLU(0.1), with
/// a SAGAN self-attention block after each of the last two; then a spectral-normalised 3×3 convolution to one
/// channel, averaged over positions. Returns one score per sample, [B].
/// Departure from the authors' SAGAN critic: their last layer is a 4×4 valid convolution, which needs a map of at
/// least 4×4 after the down-sampling; the 3×3-padded convolution plus a spatial mean accepts any map size.
/// <c>call(logits)</c> when built with image_channels = 0; otherwise <see cref="forward(Tensor, Tensor)"/>
/// (logits, image [B, image_channels, H_img, W_img]: the image is bilinearly resized to H×W and concatenated on
/// the channel axis). Create it with <see cref="gpukd.SkdDiscriminator"/>.
/// </summary>
public sealed class SkdDiscriminator : nn.Module<Tensor, Tensor>
{
    /// <summary>Channels of the logits.</summary>
    public long InChannels { get; }

    /// <summary>Channels of the image concatenated to the logits (0: none).</summary>
    public long ImageChannels { get; }

#pragma warning disable IDE1006
    readonly nn.Module<Tensor, Tensor> body;
    readonly SpectralNormConv2d head;
#pragma warning restore IDE1006

    internal SkdDiscriminator(long inChannels, long imageChannels, long baseChannels, int depth) : base(nameof(SkdDiscriminator))
    {
        if (inChannels < 1) throw new ArgumentException($"in_channels must be ≥ 1, got {inChannels}.", "in_channels");
        if (imageChannels < 0) throw new ArgumentException($"image_channels must be ≥ 0, got {imageChannels}.", "image_channels");
        if (baseChannels < 1) throw new ArgumentException($"base_channels must be ≥ 1, got {baseChannels}.", "base_channels");
        if (depth < 1 || depth > 8) throw new ArgumentException($"depth must be in [1, 8], got {depth}.", "depth");
        InChannels = inChannels;
        ImageChannels = imageChannels;
        var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
        long c = inChannels + imageChannels, width = baseChannels;
        for (int l = 0; l < depth; l++)
        {
            layers.Add(($"conv{l}", new SpectralNormConv2d(c, width, 4, 2, 1)));
            layers.Add(($"act{l}", nn.LeakyReLU(0.1)));
            if (l >= depth - 2) layers.Add(($"attn{l}", new SelfAttention2d(width)));
            c = width;
            width *= 2;
        }
        body = nn.Sequential(layers);
        head = new SpectralNormConv2d(c, 1, 3, 1, 1);
        RegisterComponents();
    }

    /// <summary>Scores of logits [B, K, H, W] → [B] (a discriminator built without image channels).</summary>
    public override Tensor forward(Tensor logits)
    {
        if (ImageChannels != 0)
            throw new InvalidOperationException($"This discriminator expects an image of {ImageChannels} channels: call forward(logits, image).");
        return Score(logits);
    }

    /// <summary>Scores of logits [B, K, H, W] with the image [B, image_channels, H', W'] (or null when built
    /// without image channels) → [B].</summary>
    public Tensor forward(Tensor logits, Tensor? image)
    {
        if (image is null) return forward(logits);
        if (ImageChannels == 0) throw new ArgumentException("This discriminator was built with image_channels = 0.", nameof(image));
        if (image.dim() != 4 || image.shape[0] != logits.shape[0] || image.shape[1] != ImageChannels)
            throw new ArgumentException($"image must be [{logits.shape[0]}, {ImageChannels}, H, W], got [{string.Join(", ", image.shape)}].", nameof(image));
        using var scope = NewDisposeScope();
        var resized = image.shape[2] == logits.shape[2] && image.shape[3] == logits.shape[3]
            ? image
            : nn.functional.interpolate(image, [logits.shape[2], logits.shape[3]], mode: InterpolationMode.Bilinear, align_corners: false);
        return Score(cat([logits, resized.to(logits.dtype)], 1)).MoveToOuterDisposeScope();
    }

    Tensor Score(Tensor x)
    {
        if (x.dim() != 4 || x.shape[1] != InChannels + ImageChannels)
            throw new ArgumentException($"logits must be [B, {InChannels}, H, W], got [{string.Join(", ", x.shape)}].", "logits");
        using var scope = NewDisposeScope();
        return head.call(body.call(x)).mean([1, 2, 3]).MoveToOuterDisposeScope();
    }
}
