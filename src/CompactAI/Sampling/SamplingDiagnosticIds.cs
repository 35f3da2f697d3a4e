namespace CompactAI.Sampling;

/// <summary>
/// Diagnostic ids of the sampling APIs marked <see cref="System.Diagnostics.CodeAnalysis.ExperimentalAttribute"/>: they may
/// change in a minor release. Suppress the id (<c>&lt;NoWarn&gt;</c> or <c>#pragma warning disable</c>) to use them.
/// </summary>
public static class SamplingDiagnosticIds
{
    /// <summary>
    /// <c>CAISMP001</c>: custom sampler steps (<see cref="ISamplerStep"/>, <see cref="SamplerCandidates"/>,
    /// <see cref="CustomSamplerStep"/>, <see cref="SamplerStage"/>, <see cref="SamplingOptions.CustomSteps"/>).
    /// </summary>
    public const string SamplerSteps = "CAISMP001";
}
