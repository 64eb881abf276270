using GpuKd.Modules;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>The holistic (adversarial) structured-KD parts: the discriminator learns to separate the teacher's
/// logits from a fixed perturbed student's; the WGAN-GP terms reach the right parameters; spectral normalisation
/// estimates σ(W). Ordinary TorchSharp layers: no backend fixture. libtorch's oneDNN is off here: the served
/// libtorch-cpu's oneDNN float32 conv2d input gradient is wrong for the discriminator's 3×3 head on small maps on some
/// CPUs (<see cref="LibtorchMkldnnTests"/>), which made these tests fail now and then with a NaN loss.</summary>
public sealed class SkdHolisticTests
{
    IDisposable? _mkldnn;

    [SetUp]
    public void OneDnnOff() => _mkldnn = LibtorchMkldnnTests.Off();

    [TearDown]
    public void OneDnnRestored() => _mkldnn?.Dispose();

    [Test]
    public void Discriminator_learns_to_separate_teacher_from_student()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(20261128);
        using var g = new Generator(7);
        var teacher = 2 * Inputs.Randn([4, 8, 16, 16], ScalarType.Float32, salt: 1);
        var student = (teacher + 1.5 * Inputs.Randn([4, 8, 16, 16], ScalarType.Float32, salt: 2)).detach();
        using var d = gpukd.SkdDiscriminator(8, base_channels: 8, depth: 3);
        using var opt = optim.Adam(d.parameters(), lr: 2e-3, beta1: 0.5, beta2: 0.9);
        double Gap() { using var _ = no_grad(); return (d.call(teacher).mean() - d.call(student).mean()).item<float>(); }
        double before = Gap();
        for (int step = 0; step < 20; step++)
        {
            using var inner = NewDisposeScope();
            opt.zero_grad();
            var loss = gpukd.functional.skd_holistic_discriminator_loss(d, student, teacher, generator: g);
            Assert.That(float.IsFinite(loss.item<float>()), $"step {step}: loss {loss.item<float>()}");
            loss.backward();
            opt.step();
        }
        double after = Gap();
        TestContext.Out.WriteLine($"score gap D(teacher) − D(student): {before:G4} → {after:G4}");
        Assert.That(after, Is.GreaterThan(before + 0.05).And.GreaterThan(0.05), "the critic scores the teacher above the student");
    }

    [Test]
    public void Generator_term_reaches_the_student_and_is_minus_lambda_mean_score()
    {
        using var scope = NewDisposeScope();
        using var d = gpukd.SkdDiscriminator(3, image_channels: 3, base_channels: 4, depth: 2);
        d.eval();   // fixed σ estimates: the same D in both calls
        var zs = Inputs.Randn([2, 3, 8, 8], ScalarType.Float32).requires_grad_(true);
        var image = Inputs.Randn([2, 3, 16, 16], ScalarType.Float32, salt: 1);
        var loss = gpukd.functional.skd_holistic_generator_loss(d, zs, image);
        using (no_grad())
            Assert.That(loss.item<float>(), Is.EqualTo(-0.1 * d.forward(zs, image).mean().item<float>()).Within(1e-6));
        loss.backward();
        Assert.That(Tolerances.Norm(zs.grad!), Is.GreaterThan(0));
        Assert.That(() => d.call(zs), Throws.InvalidOperationException, "image channels expected");
    }

    [Test]
    public void Discriminator_term_trains_only_the_discriminator_and_has_the_penalty()
    {
        using var scope = NewDisposeScope();
        using var d = gpukd.SkdDiscriminator(3, base_channels: 4, depth: 2);
        var zs = Inputs.Randn([3, 3, 8, 8], ScalarType.Float32).requires_grad_(true);
        var zt = Inputs.Randn([3, 3, 8, 8], ScalarType.Float32, salt: 1);
        d.eval();   // fixed σ estimates, so that the parts below see the same D
        using var g1 = new Generator(3);
        var full = gpukd.functional.skd_holistic_discriminator_loss(d, zs, zt, generator: g1);
        var noPenalty = gpukd.functional.skd_holistic_discriminator_loss(d, zs, zt, lambda_gp: 0);
        double wasserstein;
        using (no_grad()) wasserstein = 0.1 * (d.call(zs).mean() - d.call(zt).mean()).item<float>();
        Assert.That(noPenalty.item<float>(), Is.EqualTo(wasserstein).Within(1e-6));
        Assert.That(full.item<float>(), Is.GreaterThan(noPenalty.item<float>()), "the gradient penalty is positive");
        full.backward();
        Assert.That(zs.grad, Is.Null, "logits are detached in the discriminator term");
        Assert.That(d.parameters().Any(p => p.grad is not null && Tolerances.Norm(p.grad) > 0), Is.True);
    }

    [Test]
    public void Spectral_norm_converges_to_the_largest_singular_value()
    {
        using var scope = NewDisposeScope();
        random.manual_seed(5);
        using var conv = new SpectralNormConv2d(3, 5, 4, 2, 1);
        var x = randn(1, 3, 8, 8);
        for (int i = 0; i < 50; i++) conv.call(x);
        var w = conv.parameters().First().detach().reshape(5, -1);
        double sigma = linalg.svdvals(w)[0].item<float>();
        Assert.That(conv.Sigma, Is.EqualTo(sigma).Within(1e-3 * sigma));
    }
}
