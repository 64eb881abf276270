// The Structured-KD rows of the demo's segmentation table (Liu et al., "Structured knowledge distillation
// for semantic segmentation").
// Every SKD row comes from this file; the rest of the pipeline (data, nets, student alone, mIoU, the
// segmentation figure) does not depend on it.
using static TorchSharp.torch;

namespace GpuKd.Cli.Demo;

internal static partial class Methods
{
    static partial void AddSkd(List<Method> methods)
    {
        // Pixel-wise: the authors' soft-target cross-entropy on the logits, weight 10.
        methods.Add(new("skd-pixel", "SKD pixel-wise", DemoTask.Segmentation, () =>
            new MethodRun((s, t, x) => 10 * gpukd.functional.skd_pixelwise_loss(s.Logits, t.Logits))));

        // Pixel-wise + pair-wise at full resolution of the 16×16 bottleneck features (every pixel a node:
        // 256 nodes, the N² similarity matrix is what the fused op avoids storing), weights 10 and 1.
        methods.Add(new("skd-pair", "SKD pixel + pair", DemoTask.Segmentation, () =>
        {
            var skd = gpukd.StructuredKDLoss(pixel_weight: 10, pair_weight: 1, pool: SkdPool.None);
            return new MethodRun((s, t, x) => skd.forward(s.Logits, t.Logits, s.Embedding, t.Embedding), state: skd);
        }));

        // All three: pixel + pair + holistic (WGAN-GP critic on the logits with the image, λ_d = 0.1). The critic
        // is smaller than the authors' (base 16 channels, 3 down-samplings) for 32×32 maps on a CPU; it takes
        // one Adam step (lr 4e-4, β = (0.5, 0.9)) after each student step on the detached logits.
        methods.Add(new("skd", "SKD pixel + pair + holistic", DemoTask.Segmentation, () =>
        {
            var skd = gpukd.StructuredKDLoss(pixel_weight: 10, pair_weight: 1, pool: SkdPool.None);
            var critic = gpukd.SkdDiscriminator(ShapeData.ClassNames.Length, image_channels: 3, base_channels: 16, depth: 3);
            var criticOptimizer = optim.Adam(critic.parameters(), lr: 4e-4, beta1: 0.5, beta2: 0.9);
            return new MethodRun(
                (s, t, x) => skd.forward(s.Logits, t.Logits, s.Embedding, t.Embedding)
                             + gpukd.functional.skd_holistic_generator_loss(critic, s.Logits, x, lambda_d: 0.1),
                afterStep: (s, t, x) =>
                {
                    criticOptimizer.zero_grad();
                    gpukd.functional.skd_holistic_discriminator_loss(critic, s.Logits, t.Logits, x, lambda_d: 0.1, lambda_gp: 10).backward();
                    criticOptimizer.step();
                },
                state: new Owned(skd, critic, criticOptimizer));
        }));
    }

    /// <summary>Disposes several objects of one run's state.</summary>
    sealed class Owned(params IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items) item.Dispose();
        }
    }
}
