using GpuKd.Reference;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuKd.Tests;

/// <summary>
/// One op variant under test with its oracles and the facts the generic tests need about it.
/// Tests are written once per concept and run over every case (KeOps style), so a new op needs
/// one entry here.
/// </summary>
public sealed record OpCase(string Name, Func<Tensor, Tensor> Ours, Func<Tensor, Tensor> Reference, Func<Tensor, Tensor> Oracle)
{
    /// <summary>Input is [B = 2, N = b, C = D] instead of [b, D].</summary>
    public bool Batched { get; init; }

    /// <summary>A zero row is a degenerate normalisation: the reference's gradient is ~1e12, ours finite.</summary>
    public bool ZeroRowDiverges { get; init; }

    /// <summary>A duplicate row is a degenerate normalisation: the reference's gradient is ~1e12, ours finite.</summary>
    public bool DuplicateRowDiverges { get; init; }

    /// <summary>The op is translation invariant and documented to centre: the large-offset case applies.</summary>
    public bool TranslationInvariant { get; init; }

    /// <summary>
    /// In 1-D the op is locally constant (cosines and angles are ±1), so its gradient is 0 and
    /// only known to round-off: compared absolutely, see <see cref="GradientAssert"/>.
    /// </summary>
    public bool LocallyConstantIn1D { get; init; }

    /// <summary>
    /// The published composition's float64 gradient is exact to round-off on regular inputs. False
    /// for triplet angles: the apex's own zero leg feeds it 1e12-scaled round-off (~1e-4 relative,
    /// <see cref="OracleSanityTests"/>), so their gradient is judged against <see cref="Oracle"/>.
    /// </summary>
    public bool ReferenceGradientIsExact { get; init; } = true;

    /// <summary>Output shape for an input of b rows.</summary>
    public long[] OutputShape(int b) => Name == OpCases.TripletAngles ? [b, b, b] : Batched ? [2, b, b] : [b, b];

    public long[] InputShape(int b, int d) => Batched ? [2, b, d] : [b, d];

    public override string ToString() => Name;
}

/// <summary>The table of op variants; test cases are its names (stable, readable test names).</summary>
public static class OpCases
{
    public const string GramMatrix = "gram_matrix";
    public const string GramMatrixNormalized = "gram_matrix_normalize_rows";
    public const string Cosine = "cosine_similarity_matrix";
    public const string CosineBatched = "cosine_similarity_matrix_batched";
    public const string Distances = "pairwise_distances";
    public const string SquaredDistances = "pairwise_distances_squared";
    public const string TripletAngles = "triplet_angles";

    /// <summary>
    /// Set to 1 to validate the suite itself without the library: every op is replaced by a test-only
    /// stand-in (the degenerate-aware oracle, or the Gram-form composition for distances and angles).
    /// All numeric tests then pass; only the input-validation tests (bad input, check mode) fail.
    /// </summary>
    public const string StandInVariable = "GPUKD_TESTS_STAND_IN";

    static readonly bool UseStandIns = Environment.GetEnvironmentVariable(StandInVariable) == "1";

    static Func<Tensor, Tensor> Ours(Func<Tensor, Tensor> library, Func<Tensor, Tensor> standIn) => UseStandIns ? standIn : library;

    static readonly OpCase[] All =
    [
        new(GramMatrix, Ours(x => gpukd.functional.gram_matrix(x), x => DegenerateAwareOracle.GramMatrix(x)), x => ReferenceOps.GramMatrix(x), x => DegenerateAwareOracle.GramMatrix(x)),
        new(GramMatrixNormalized, Ours(x => gpukd.functional.gram_matrix(x, normalize_rows: true), x => DegenerateAwareOracle.GramMatrix(x, true)),
            x => ReferenceOps.GramMatrix(x, normalizeRows: true), x => DegenerateAwareOracle.GramMatrix(x, normalizeRows: true))
            { ZeroRowDiverges = true },
        new(Cosine, Ours(x => gpukd.functional.cosine_similarity_matrix(x), x => DegenerateAwareOracle.CosineSimilarityMatrix(x)),
            x => ReferenceOps.CosineSimilarityMatrix(x), x => DegenerateAwareOracle.CosineSimilarityMatrix(x))
            { ZeroRowDiverges = true, LocallyConstantIn1D = true },
        new(CosineBatched, Ours(x => gpukd.functional.cosine_similarity_matrix(x), x => DegenerateAwareOracle.CosineSimilarityMatrix(x)),
            x => ReferenceOps.CosineSimilarityMatrix(x), x => DegenerateAwareOracle.CosineSimilarityMatrix(x))
            { Batched = true, ZeroRowDiverges = true, LocallyConstantIn1D = true },
        new(Distances, Ours(x => gpukd.functional.pairwise_distances(x), x => GramFormOracle.PairwiseDistances(x)),
            x => ReferenceOps.PairwiseDistances(x), x => DegenerateAwareOracle.PairwiseDistances(x))
            { TranslationInvariant = true },
        new(SquaredDistances, Ours(x => gpukd.functional.pairwise_distances(x, squared: true), x => GramFormOracle.PairwiseDistances(x, squared: true)),
            x => ReferenceOps.PairwiseDistances(x, squared: true), x => DegenerateAwareOracle.PairwiseDistances(x, squared: true))
            { TranslationInvariant = true },
        new(TripletAngles, Ours(x => gpukd.functional.triplet_angles(x), x => GramFormOracle.TripletAngles(x)),
            x => ReferenceOps.TripletAngles(x), x => DegenerateAwareOracle.TripletAngles(x))
            { TranslationInvariant = true, DuplicateRowDiverges = true, LocallyConstantIn1D = true, ReferenceGradientIsExact = false },
    ];

    /// <summary>Every case name: the <c>TestCaseSource</c> of the generic tests.</summary>
    public static IEnumerable<string> Names => All.Select(c => c.Name);

    /// <summary>One case per distinct public call (the batched cosine is the same function as the 2-D one).</summary>
    public static IEnumerable<string> FunctionNames => Names.Where(n => n != CosineBatched);

    /// <summary>The [b, …] ops, which flatten every axis after the first.</summary>
    public static IEnumerable<string> FlatteningNames => Names.Where(n => n is not (Cosine or CosineBatched));

    /// <summary>Cases whose features may carry a large common offset (they centre internally).</summary>
    public static IEnumerable<string> TranslationInvariantNames => All.Where(c => c.TranslationInvariant).Select(c => c.Name);

    public static OpCase Get(string name) => All.Single(c => c.Name == name);
}
