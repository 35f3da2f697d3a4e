using System.ComponentModel.DataAnnotations;
using CompactAI.Chat;
using Microsoft.Extensions.Options;

namespace CompactAI.Hosting;

/// <summary>
/// Options of <c>AddCompactAI</c>: which GGUF file to load, the engine's own <see cref="CompactModelOptions"/> (<see cref="Model"/>)
/// and <see cref="CompactChatClientOptions"/> (<see cref="Chat"/>), bound as they are, and when to load. Bindable from
/// configuration (section <c>CompactAI</c> by convention):
/// <code>
/// "CompactAI": {
///   "ModelPath": "models/stories260K.gguf",
///   "Model": { "Threads": 4, "ContextSize": 2048, "MaxParallelSequences": 2, "Backend": "Cuda", "GpuLayers": 20 },
///   "Chat": { "ModelId": "stories", "DefaultMaxOutputTokens": 256 }
/// }
/// </code>
/// Validated when the host starts (or on first use) by the same rules the engine checks, all failures at once.
/// </summary>
public sealed class CompactAIOptions : IValidatableObject
{
    /// <summary>The conventional configuration section name, <c>CompactAI</c>.</summary>
    public const string SectionName = "CompactAI";

    /// <summary>Path of the GGUF model file (required; it must exist).</summary>
    [Required]
    public string? ModelPath { get; set; }

    /// <summary>
    /// How the engine loads and runs the model: threads, context, batch, parallel sequences, backend, device and GPU layers,
    /// CPU kernels (<see cref="CompactModelOptions"/>). When its <see cref="CompactModelOptions.LoggerFactory"/> is null, the
    /// host's logger factory receives the engine's backend decision.
    /// </summary>
    [ValidateObjectMembers(typeof(CompactModelOptionsValidator))]
    public CompactModelOptions Model { get; set; } = new();

    /// <summary>How the registered chat client answers: model id, default answer length, template, context overflow (<see cref="CompactChatClientOptions"/>).</summary>
    [ValidateObjectMembers(typeof(CompactChatClientOptionsValidator))]
    public CompactChatClientOptions Chat { get; set; } = new();

    /// <summary>
    /// Load the model while the host starts (a hosted service) rather than on first use. Ignored without a host:
    /// then the model loads when <see cref="CompactModel"/>, the chat client or the embedding generator is first resolved.
    /// </summary>
    public bool LoadOnStart { get; set; } = true;

    /// <summary>
    /// Receives load progress in [0, 1], non-decreasing: the engine's own progress (<see cref="CompactModel.LoadAsync(string, CompactModelOptions?, IProgress{float}?, CancellationToken)"/>)
    /// scaled to [0, 0.9], then 1 when the warm-up forward pass is done. Not bound from configuration.
    /// </summary>
    public IProgress<float>? LoadProgress { get; set; }

    /// <summary>Checks that <see cref="ModelPath"/> names an existing file (the source-generated validator calls this).</summary>
    /// <param name="validationContext">The context.</param>
    IEnumerable<ValidationResult> IValidatableObject.Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrWhiteSpace(ModelPath) && !File.Exists(ModelPath))
            yield return new ValidationResult($"ModelPath '{ModelPath}' does not exist (full path '{Path.GetFullPath(ModelPath)}').", [nameof(ModelPath)]);
    }
}
