using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuKd.Cli.Demo;

/// <summary>
/// What a network gives the distillation losses: intermediate feature maps (shallow to deep),
/// the penultimate embedding, and the logits. For the segmentation nets the embedding is the
/// bottleneck feature map [B, C, H/2, W/2] and the logits are per pixel [B, K, H, W].
/// </summary>
internal sealed record NetOutput(Tensor[] Layers, Tensor Embedding, Tensor Logits)
{
    /// <summary>The same outputs cut from the graph (for the teacher cache and the discriminator step).</summary>
    public NetOutput Detach() => new(Layers.Select(l => l.detach()).ToArray(), Embedding.detach(), Logits.detach());
}

/// <summary>conv 3×3 → batch norm → ReLU, the building block of both nets.</summary>
internal static class Blocks
{
    public static Sequential ConvBnRelu(long inC, long outC, int k = 3) =>
        Sequential(Conv2d(inC, outC, k, padding: k / 2, bias: false), BatchNorm2d(outC), ReLU());
}

/// <summary>
/// The glyph classifier: two stages of two conv blocks (width w then 2w, 16×16 then 8×8), global
/// average pooling, a linear embedding with ReLU, a linear classifier. Layers = the two stage
/// outputs [B, w, 16, 16] and [B, 2w, 8, 8]; the teacher uses w = 32, the student w = 8.
/// </summary>
internal sealed class GlyphNet : Module<Tensor, NetOutput>
{
    readonly Sequential _stage1, _stage2;
    readonly Linear _embed, _classify;

    public GlyphNet(int width, int embedding, int classes) : base(nameof(GlyphNet))
    {
        _stage1 = Sequential(Blocks.ConvBnRelu(1, width), Blocks.ConvBnRelu(width, width));
        _stage2 = Sequential(Blocks.ConvBnRelu(width, 2 * width), Blocks.ConvBnRelu(2 * width, 2 * width));
        _embed = Linear(2 * width, embedding);
        _classify = Linear(embedding, classes);
        RegisterComponents();
    }

    public override NetOutput forward(Tensor x)
    {
        var f1 = _stage1.call(x);
        var f2 = _stage2.call(functional.max_pool2d(f1, 2));
        var pooled = functional.max_pool2d(f2, 2).mean([2, 3]);
        var embedding = functional.relu(_embed.call(pooled));
        return new NetOutput([f1, f2], embedding, _classify.call(embedding));
    }
}

/// <summary>
/// The segmentation net, a two-level U-Net: encoder blocks at full (w) and half resolution (2w, the
/// "feature" layer SKD's pair-wise term uses), bilinear upsampling, a skip connection, one decoder
/// block and a 1×1 head to per-pixel logits. Teacher w = 24, student w = 6.
/// </summary>
internal sealed class SegNet : Module<Tensor, NetOutput>
{
    readonly Sequential _enc1, _enc2, _dec;
    readonly Conv2d _head;

    public SegNet(int width, int classes) : base(nameof(SegNet))
    {
        _enc1 = Sequential(Blocks.ConvBnRelu(3, width), Blocks.ConvBnRelu(width, width));
        _enc2 = Sequential(Blocks.ConvBnRelu(width, 2 * width), Blocks.ConvBnRelu(2 * width, 2 * width));
        _dec = Sequential(Blocks.ConvBnRelu(3 * width, width));
        _head = Conv2d(width, classes, 1);
        RegisterComponents();
    }

    public override NetOutput forward(Tensor x)
    {
        var e1 = _enc1.call(x);
        var feat = _enc2.call(functional.max_pool2d(e1, 2));
        var up = functional.interpolate(feat, scale_factor: [2.0, 2.0], mode: InterpolationMode.Bilinear, align_corners: false);
        var logits = _head.call(_dec.call(cat([up, e1], 1)));
        return new NetOutput([feat], feat, logits);
    }
}
