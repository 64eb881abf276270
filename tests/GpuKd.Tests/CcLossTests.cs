using GpuKd.Data;
using GpuKd.Reference;
using NUnit.Framework;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>CC-specific behaviour beyond the generic <see cref="PairLossTests"/> (which run every kernel
/// variant): option checks, the module, hand-computed values, both sides trained.</summary>
[TestFixture(KdBackend.Cpu)]
[TestFixture(KdBackend.Ilgpu)]
public sealed class CcLossTests(KdBackend backend) : BackendFixture(backend)
{
    static NUnit.Framework.Constraints.IResolveConstraint ThrowsNaming(string p)
        => Throws.InstanceOf<ArgumentException>().With.Property(nameof(ArgumentException.ParamName)).EqualTo(p);

    [Test]
    public void Bad_options_are_rejected_naming_the_argument()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([4, 3]);
        var t = Inputs.Randn([4, 5], salt: 1);
        Assert.That(() => gpukd.functional.cc_loss(s, t, gamma: -0.1), ThrowsNaming("gamma"));
        Assert.That(() => gpukd.functional.cc_loss(s, t, gamma: double.NaN), ThrowsNaming("gamma"));
        Assert.That(() => gpukd.functional.cc_loss(s, t, order: -1), ThrowsNaming("order"));
        Assert.That(() => gpukd.functional.cc_loss(s, t, (CcKernel)9), ThrowsNaming("kernel"));
        Assert.That(() => gpukd.CCLoss(gamma: -1), ThrowsNaming("gamma"));
    }

    [Test]
    public void Module_equals_the_functional([Values] CcKernel kernel)
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var s = Inputs.Randn([5, 3]);
        var t = Inputs.Randn([5, 8], salt: 1);
        using var module = gpukd.CCLoss(kernel, gamma: 0.7, order: 3);
        Assert.That(Tolerances.Identical(module.call(s, t), gpukd.functional.cc_loss(s, t, kernel, 0.7, 3)), Label("CCLoss", kernel));
    }

    [Test]
    public void Hand_computed_b2_values()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        // Student rows orthogonal (A_S = I), teacher rows parallel (A_T = all ones).
        var s = tensor(new double[] { 1, 0, 0, 2 }).reshape(2, 2);
        var t = tensor(new double[] { 1, 1, 3, 3 }).reshape(2, 2);
        double g = 0.4, c0 = Math.Exp(-2 * g);
        double taylor1 = c0 * (1 + 2 * g + 2 * g * g), taylor0 = c0;   // f(1), f(0) at P = 2
        // Off-diagonal entries differ (f(0) vs f(1)), diagonals agree: mean = 2·(f(0) − f(1))² / 4.
        Assert.That(gpukd.functional.cc_loss(s, t).item<double>(), Is.EqualTo(0.5 * Math.Pow(taylor0 - taylor1, 2)).Within(1e-15));
        Assert.That(gpukd.functional.cc_loss(s, t, CcKernel.Rbf).item<double>(), Is.EqualTo(0.5 * Math.Pow(Math.Exp(-2 * g) - 1, 2)).Within(1e-15));
        Assert.That(gpukd.functional.cc_loss(s, t, CcKernel.Bilinear).item<double>(), Is.EqualTo(0.5).Within(1e-15));
        // Raw: K_S = diag(1, 4), K_T = [[2, 6], [6, 18]]: ((1−2)² + 2·6² + (4−18)²)/4.
        Assert.That(gpukd.functional.cc_loss(s, t, CcKernel.BilinearRaw).item<double>(), Is.EqualTo((1 + 72 + 196) / 4.0).Within(1e-12));
    }

    [Test]
    public void Order_0_Taylor_is_constant_and_passes_zero_gradient()
    {
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var (v, gs, gt) = PairAutodiff.Run((a, b) => gpukd.functional.cc_loss(a, b, order: 0), Inputs.Randn([4, 3]), Inputs.Randn([4, 2], salt: 1));
        Assert.That(v.item<double>(), Is.EqualTo(0.0));
        Assert.That(Tolerances.MaxAbs(gs!) + Tolerances.MaxAbs(gt!), Is.EqualTo(0.0));
    }

    [Test]
    public void Both_sides_trained_match_the_reference_through_linear_embeddings()
    {
        // The setup the option exists for: an embedding on each side, trained by the CC loss.
        using var _ = UseBackend();
        using var scope = NewDisposeScope();
        var fs = Inputs.Randn([6, 5]);
        var ft = Inputs.Randn([6, 7], salt: 1);
        GradCheck.Check(Label("cc_loss", "two embeddings"), ws => gpukd.functional.cc_loss(fs.mm(ws[0]), ft.mm(ws[1])),
                        Inputs.Randn([5, 4], salt: 2), Inputs.Randn([7, 3], salt: 3));
    }
}

/// <summary>The CUR / SUR batch sampler.</summary>
public sealed class ClassUniformBatchSamplerTests
{
    static int[] Labels(int classes, int perClass) => [.. Enumerable.Range(0, classes * perClass).Select(i => i % classes)];

    [Test]
    public void Each_batch_has_k_distinct_classes_with_n_samples_each()
    {
        var labels = Labels(10, 7);
        var sampler = new ClassUniformBatchSampler(labels, classesPerBatch: 4, samplesPerClass: 5, seed: 3);
        Assert.That(sampler.BatchSize, Is.EqualTo(20));
        Assert.That(sampler.BatchesPerEpoch, Is.EqualTo(70 / 20));
        foreach (var batch in sampler.Epoch(0))
        {
            Assert.That(batch, Has.Length.EqualTo(20));
            var groups = batch.Chunk(5).ToArray();
            Assert.That(groups.Select(g => labels[g[0]]), Is.Unique, "k distinct classes");
            foreach (var g in groups)
            {
                Assert.That(g.Select(i => labels[i]).Distinct().Count(), Is.EqualTo(1), "n samples of one class");
                Assert.That(g, Is.Unique, "without replacement when the class has ≥ n samples");
            }
        }
    }

    [Test]
    public void Deterministic_per_seed_and_epoch()
    {
        var labels = Labels(6, 9);
        long[][] Draw(int seed, int epoch) => [.. new ClassUniformBatchSampler(labels, 3, 4, seed).Epoch(epoch)];
        Assert.That(Draw(1, 0), Is.EqualTo(Draw(1, 0)));
        Assert.That(Draw(1, 0), Is.Not.EqualTo(Draw(2, 0)));
        Assert.That(Draw(1, 0), Is.Not.EqualTo(Draw(1, 1)));
    }

    [Test]
    public void Superclass_uniform_groups_by_superclass()
    {
        var labels = Labels(8, 3);
        var superclassOf = new[] { 0, 0, 1, 1, 2, 2, 3, 3 };
        var sampler = new ClassUniformBatchSampler(labels, 2, 6, seed: 5, superclassOf: superclassOf, batchesPerEpoch: 5);
        foreach (var batch in sampler.Epoch(0))
        {
            var groups = batch.Chunk(6).Select(g => g.Select(i => superclassOf[labels[i]]).Distinct().Single()).ToArray();
            Assert.That(groups, Is.Unique);
        }
    }

    [Test]
    public void Small_classes_are_drawn_with_replacement_and_bad_arguments_are_rejected()
    {
        var labels = new[] { 0, 0, 1, 2, 2, 2 };
        var batch = new ClassUniformBatchSampler(labels, 3, 4, seed: 1).Epoch(0).First();
        Assert.That(batch, Has.Length.EqualTo(12));
        Assert.That(() => new ClassUniformBatchSampler(labels, 4, 2), Throws.ArgumentException.With.Property("ParamName").EqualTo("classesPerBatch"));
        Assert.That(() => new ClassUniformBatchSampler(labels, 2, 0), Throws.ArgumentException.With.Property("ParamName").EqualTo("samplesPerClass"));
        Assert.That(() => new ClassUniformBatchSampler([0, -1], 1, 1), Throws.ArgumentException.With.Property("ParamName").EqualTo("labels"));
    }
}
