using System.ComponentModel.DataAnnotations;
using CompactAI.Chat;
using Microsoft.Extensions.Options;

namespace CompactAI.Hosting;

/// <summary>
/// Validates <see cref="CompactAIOptions"/> (source-generated from its attributes): <see cref="CompactAIOptions.ModelPath"/>
/// required and existing, <see cref="CompactAIOptions.Model"/> by the engine's own rules, <see cref="CompactAIOptions.Chat"/>.
/// </summary>
[OptionsValidator]
internal sealed partial class CompactAIOptionsValidator : IValidateOptions<CompactAIOptions>;

/// <summary>The engine's rules for <see cref="CompactModelOptions"/> (<see cref="CompactModelOptions.Validate(ValidationContext)"/>), every failure named by its key.</summary>
internal sealed class CompactModelOptionsValidator : IValidateOptions<CompactModelOptions>
{
    public ValidateOptionsResult Validate(string? name, CompactModelOptions options)
    {
        var failures = options.Validate(new ValidationContext(options, nameof(CompactAIOptions.Model), null, null))
            .Select(r => $"{nameof(CompactAIOptions.Model)}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage}").ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The values of <see cref="CompactChatClientOptions"/> the chat client cannot work with.</summary>
internal sealed class CompactChatClientOptionsValidator : IValidateOptions<CompactChatClientOptions>
{
    public ValidateOptionsResult Validate(string? name, CompactChatClientOptions options)
    {
        var failures = new List<string>();
        if (options.DefaultMaxOutputTokens <= 0)
            failures.Add($"{nameof(CompactAIOptions.Chat)}:{nameof(CompactChatClientOptions.DefaultMaxOutputTokens)}: must be positive (got {options.DefaultMaxOutputTokens}).");
        if (!Enum.IsDefined(options.ContextOverflow))
            failures.Add($"{nameof(CompactAIOptions.Chat)}:{nameof(CompactChatClientOptions.ContextOverflow)}: must be one of {string.Join(", ", Enum.GetNames<ContextOverflowPolicy>())} (got {(int)options.ContextOverflow}).");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
