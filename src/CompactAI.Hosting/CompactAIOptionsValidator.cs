using Microsoft.Extensions.Options;

namespace CompactAI.Hosting;

/// <summary>Checks <see cref="CompactAIOptions"/>; each failure names the configuration key and the value it got.</summary>
internal sealed class CompactAIOptionsValidator : IValidateOptions<CompactAIOptions>
{
    public ValidateOptionsResult Validate(string? name, CompactAIOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.ModelPath))
            failures.Add($"{nameof(CompactAIOptions.ModelPath)} is required: set {CompactAIOptions.SectionName}:{nameof(CompactAIOptions.ModelPath)} to a GGUF file.");
        else if (!File.Exists(options.ModelPath))
            failures.Add($"{nameof(CompactAIOptions.ModelPath)} '{options.ModelPath}' does not exist (full path '{Path.GetFullPath(options.ModelPath)}').");
        if (options.Threads is <= 0)
            failures.Add($"{nameof(CompactAIOptions.Threads)} must be positive (got {options.Threads}); leave it unset for one per processor core.");
        if (options.ContextSize is <= 0)
            failures.Add($"{nameof(CompactAIOptions.ContextSize)} must be positive (got {options.ContextSize}); leave it unset for the model's training context.");
        if (options.BatchSize <= 0)
            failures.Add($"{nameof(CompactAIOptions.BatchSize)} must be positive (got {options.BatchSize}).");
        if (options.MaxParallelSequences <= 0)
            failures.Add($"{nameof(CompactAIOptions.MaxParallelSequences)} must be positive (got {options.MaxParallelSequences}).");
        if (options.DefaultMaxOutputTokens <= 0)
            failures.Add($"{nameof(CompactAIOptions.DefaultMaxOutputTokens)} must be positive (got {options.DefaultMaxOutputTokens}).");
        if (!Enum.IsDefined(options.Backend))
            failures.Add($"{nameof(CompactAIOptions.Backend)} must be Auto or Cpu (got {(int)options.Backend}).");
        else if (options.Backend == CompactAIBackend.Cuda)
            failures.Add($"{nameof(CompactAIOptions.Backend)} 'Cuda' is reserved: this build has no CUDA backend. Use Auto or Cpu.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
