using GpuKd.Reference;
using static TorchSharp.torch;

namespace GpuKd.Cli.Demo;

/// <summary>
/// The methods of the demo. Classification: the student alone, Hinton KD (reference point), and
/// the relational losses of GpuKd with their papers' usual weights, on the student's penultimate
/// embedding (RKD, CC), its last feature map (SP) or its layers and logits (IRG); plus RKD computed
/// by the published reference code (<see cref="ReferenceOps"/>) — same maths, so the same accuracy
/// up to rounding, but it shows what the fused ops save in time and memory. Segmentation: the
/// student alone here; the Structured-KD rows come from <c>SkdMethods.cs</c> alone.
/// </summary>
internal static partial class Methods
{
    /// <summary>The key of the student-alone baseline (always run, first, for each task).</summary>
    public const string Alone = "alone";

    public static List<Method> All()
    {
        var methods = new List<Method>
        {
            new(Alone, "student alone", DemoTask.Classification, () => new MethodRun((s, t, x) => null)),
            new("kd", "Hinton KD (T = 4)", DemoTask.Classification, () => new MethodRun((s, t, x) => HintonKd(s.Logits, t.Logits, 4.0))),
            new("rkd", "RKD (25·distance + 50·angle)", DemoTask.Classification, () =>
            {
                var rkd = gpukd.RKDLoss();
                return new MethodRun((s, t, x) => rkd.call(s.Embedding, t.Embedding), state: rkd);
            }),
            new("rkd-ref", "RKD, reference code", DemoTask.Classification, () => new MethodRun((s, t, x) =>
                25 * ReferenceOps.RkdDistanceLoss(s.Embedding, t.Embedding) + 50 * ReferenceOps.RkdAngleLoss(s.Embedding, t.Embedding))),
            new("sp", "SP (3000·sp, last feature map)", DemoTask.Classification, () => new MethodRun((s, t, x) =>
                3000 * gpukd.functional.sp_loss(s.Layers[^1], t.Layers[^1]))),
            new("cc", "CC (10·cc, embedding)", DemoTask.Classification, () => new MethodRun((s, t, x) =>
                10 * gpukd.functional.cc_loss(s.Embedding, t.Embedding))),
            new("irg", "IRG (0.1 vertex, 5 edge, 5 transf.)", DemoTask.Classification, () =>
            {
                var irg = gpukd.IRGLoss();
                return new MethodRun((s, t, x) => irg.call(new IrgFeatures(s.Layers, s.Logits), new IrgFeatures(t.Layers, t.Logits)), state: irg);
            }),
            // Issue 16, with RepDistiller's weights (NST β = 50, PKT 30000): NST on the last feature maps (6·2 vs 64
            // channels: Cs ≠ Ct), PKT on the embeddings.
            new("nst", "NST (50·nst, last feature map)", DemoTask.Classification, () => new MethodRun((s, t, x) =>
                50 * gpukd.functional.nst_loss(s.Layers[^1], t.Layers[^1]))),
            new("pkt", "PKT (30000·pkt, embedding)", DemoTask.Classification, () => new MethodRun((s, t, x) =>
                30000 * gpukd.functional.pkt_loss(s.Embedding, t.Embedding))),
            // DIST (issue 16) on the logits, with the paper's CIFAR setting (β = γ = 2, τ = 4).
            new("dist", "DIST (2·inter + 2·intra, τ = 4, logits)", DemoTask.Classification, () => new MethodRun((s, t, x) =>
                gpukd.functional.dist_loss(s.Logits, t.Logits, 2, 2, 4))),
            new(Alone, "student alone", DemoTask.Segmentation, () => new MethodRun((s, t, x) => null)),
        };
        AddSkd(methods);
        return methods;
    }

    /// <summary>Implemented in SkdMethods.cs: appends the segmentation SKD methods.</summary>
    static partial void AddSkd(List<Method> methods);

    /// <summary>Hinton et al.: T² · KL(softmax(t/T) ‖ softmax(s/T)), mean over the batch (written out, so no
    /// convention of kl_div's arguments is in question).</summary>
    static Tensor HintonKd(Tensor student, Tensor teacher, double temperature)
    {
        var logP = nn.functional.log_softmax(student / temperature, 1);
        var logQ = nn.functional.log_softmax(teacher / temperature, 1);
        return (logQ.exp() * (logQ - logP)).sum(1).mean() * (temperature * temperature);
    }
}
