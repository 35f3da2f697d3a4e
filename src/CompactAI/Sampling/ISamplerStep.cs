using System.Diagnostics.CodeAnalysis;

namespace CompactAI.Sampling;

/// <summary>
/// One step of the sampler chain: it narrows or reshapes the next-token candidates, and may keep state over the tokens
/// the sequence chose (as llama.cpp's <c>llama_sampler</c> does with apply / accept / reset).
/// </summary>
/// <remarks>
/// A step instance belongs to one generation of one sequence: <see cref="CustomSamplerStep.Create"/> is called once per
/// generation, so sequences decoding side by side in one batch never share a step's state. Calls come from the model's
/// scheduler thread, one at a time for a given instance: <see cref="Reset"/> once before the generation's first token,
/// then for every token <see cref="Apply"/> and, when the chosen token joins the sequence, <see cref="Accept"/>.
/// <see cref="Apply"/> and <see cref="Accept"/> run once per token and should not allocate.
/// </remarks>
[Experimental(SamplingDiagnosticIds.SamplerSteps)]
public interface ISamplerStep
{
    /// <summary>
    /// Changes the candidates in place: logits (e.g. a penalty), the order (<see cref="SamplerCandidates.Sort"/>), or which
    /// remain (<see cref="SamplerCandidates.Keep"/>). Leaving no candidate ends the generation with an error.
    /// </summary>
    void Apply(ref SamplerCandidates candidates);

    /// <summary>The sequence chose <paramref name="token"/>, and it is appended to the sequence.</summary>
    void Accept(int token);

    /// <summary>A generation starts: forget the tokens of any earlier one.</summary>
    void Reset();
}

/// <summary>Where a <see cref="CustomSamplerStep"/> runs in the chain (see <see cref="SamplingOptions"/>).</summary>
[Experimental(SamplingDiagnosticIds.SamplerSteps)]
public enum SamplerStage
{
    /// <summary>
    /// After logit bias, constraint mask and penalties, before top-k (where llama.cpp runs DRY). The candidates are the
    /// whole vocabulary in id order (<see cref="SamplerCandidates.IsVocabularyOrder"/>: <c>Logits[id]</c> is token
    /// <c>id</c>'s logit), unsorted, without probabilities.
    /// </summary>
    AfterPenalties,

    /// <summary>
    /// After top-k, top-p and min-p, before temperature and the draw (where llama.cpp runs XTC). The candidates are
    /// sorted, most likely first, with <see cref="SamplerCandidates.Probabilities"/> the softmax at temperature 1 over
    /// those top-k kept (top-p and min-p cut the list without renormalising). At temperature 0 (greedy) top-p and min-p
    /// do not run and top-k keeps every finite candidate; the greedy pick is then the largest remaining logit.
    /// </summary>
    AfterTruncation,
}

/// <summary>A user step for the sampler chain: where it runs and how to make one instance per generation.</summary>
/// <param name="Stage">Where in the chain the step runs; steps of one stage run in list order.</param>
/// <param name="Create">Makes a fresh step for one generation of one sequence. Must not return an instance another generation uses.</param>
[Experimental(SamplingDiagnosticIds.SamplerSteps)]
public sealed record CustomSamplerStep(SamplerStage Stage, Func<ISamplerStep> Create);
