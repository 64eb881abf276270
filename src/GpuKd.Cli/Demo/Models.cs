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

/// <summary>
/// conv 3×3 → group norm → ReLU, the building block of both nets. Group norm, not batch norm:
/// with the few hundred steps the demo trains for, batch norm's running statistics lag the
/// weights and the eval-mode nets (the cached teacher, the test metric) come out far worse than
/// in training; group norm (4 groups, or 2, per sample) behaves the same in both modes.
/// </summary>
internal static class Blocks
{
    public static Sequential ConvNormRelu(long inC, long outC, int k = 3, int dilation = 1) =>
        Sequential(Conv2d(inC, outC, k, padding: dilation * (k / 2), dilation: dilation, bias: false), new GroupNormAffine(outC % 4 == 0 ? 4 : 2, outC), ReLU());
}

/// <summary>
/// Group norm with a per-channel scale (init 1) and shift (init 0), over the functional
/// <c>group_norm</c>. (TorchSharp 0.107's GroupNorm module gave NaN from the first step here,
/// which looks like uninitialised affine parameters; this module initialises its own.)
/// </summary>
internal sealed class GroupNormAffine : Module<Tensor, Tensor>
{
    readonly long _groups;
    readonly Parameter _weight, _bias;

    public GroupNormAffine(long groups, long channels) : base(nameof(GroupNormAffine))
    {
        _groups = groups;
        _weight = new Parameter(ones(channels));
        _bias = new Parameter(zeros(channels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => functional.group_norm(x, _groups, _weight, _bias);
}

/// <summary>
/// The glyph classifier: two stages of two conv blocks (width w then 2w, 16×16 then 8×8), global
/// average pooling, a linear embedding with ReLU, a linear classifier. Layers = the two stage
/// outputs [B, w, 16, 16] and [B, 2w, 8, 8]; the teacher uses w = 32 (embedding 64), the student w = 6 (embedding 24).
/// </summary>
internal sealed class GlyphNet : Module<Tensor, NetOutput>
{
    readonly Sequential _stage1, _stage2;
    readonly Linear _embed, _classify;

    public GlyphNet(int width, int embedding, int classes) : base(nameof(GlyphNet))
    {
        _stage1 = Sequential(Blocks.ConvNormRelu(1, width), Blocks.ConvNormRelu(width, width));
        _stage2 = Sequential(Blocks.ConvNormRelu(width, 2 * width), Blocks.ConvNormRelu(2 * width, 2 * width));
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
/// The segmentation net, a two-level U-Net: encoder blocks at full (w) and half resolution (2w, the second one dilated; the
/// "feature" layer SKD's pair-wise term uses), bilinear upsampling, a skip connection, one decoder
/// block and a 1×1 head to per-pixel logits. Teacher w = 24, student w = 6.
/// </summary>
internal sealed class SegNet : Module<Tensor, NetOutput>
{
    readonly Sequential _enc1, _enc2, _dec;
    readonly Conv2d _head;

    public SegNet(int width, int classes) : base(nameof(SegNet))
    {
        _enc1 = Sequential(Blocks.ConvNormRelu(3, width), Blocks.ConvNormRelu(width, width));
        // The dilated second conv widens the receptive field (about 20 px) enough to tell a disk from a
        // square or a triangle from inside it, at no extra cost.
        _enc2 = Sequential(Blocks.ConvNormRelu(width, 2 * width), Blocks.ConvNormRelu(2 * width, 2 * width, dilation: 2));
        _dec = Sequential(Blocks.ConvNormRelu(3 * width, width));
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
