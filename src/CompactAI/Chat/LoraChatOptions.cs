using Microsoft.Extensions.AI;

namespace CompactAI.Chat;

/// <summary>
/// Chooses LoRA adapters per request through <see cref="CompactChatClient"/>: the adapters ride in
/// <see cref="ChatOptions.AdditionalProperties"/> under <see cref="Key"/> (<c>"compactai.lora"</c>) as an
/// <c>IReadOnlyList&lt;ScaledLoraAdapter&gt;</c> (a single <see cref="ScaledLoraAdapter"/> or <see cref="LoraAdapter"/>
/// is accepted too). They must be loaded for the client's model (<see cref="CompactModel.LoadAdapter"/>).
/// </summary>
/// <example>
/// <code>
/// var legal = model.LoadAdapter("legal-lora.gguf");
/// var answer = await client.GetResponseAsync(messages, new ChatOptions().WithLoraAdapters(legal.WithScale(0.8f)));
/// </code>
/// </example>
public static class LoraChatOptions
{
    /// <summary>The <see cref="ChatOptions.AdditionalProperties"/> key: <c>"compactai.lora"</c>.</summary>
    public const string Key = "compactai.lora";

    /// <summary>Sets the adapters this request applies (replacing any set before) and returns <paramref name="options"/>.</summary>
    /// <param name="options">The options to change.</param>
    /// <param name="adapters">The adapters with their scales, applied in order; none: the base model.</param>
    public static ChatOptions WithLoraAdapters(this ChatOptions options, params ScaledLoraAdapter[] adapters)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(adapters);
        options.AdditionalProperties ??= new AdditionalPropertiesDictionary();
        options.AdditionalProperties[Key] = (IReadOnlyList<ScaledLoraAdapter>)adapters.ToArray();
        return options;
    }

    /// <summary>The adapters <paramref name="options"/> carries under <see cref="Key"/> (empty when none).</summary>
    /// <exception cref="ArgumentException">The value under <see cref="Key"/> is of another type.</exception>
    public static IReadOnlyList<ScaledLoraAdapter> GetLoraAdapters(this ChatOptions? options)
    {
        if (options?.AdditionalProperties is not { } extra || !extra.TryGetValue(Key, out object? value) || value is null) return [];
        return value switch
        {
            IReadOnlyList<ScaledLoraAdapter> list => list,
            IEnumerable<ScaledLoraAdapter> items => items.ToArray(),
            ScaledLoraAdapter one => [one],
            LoraAdapter adapter => [adapter],
            IEnumerable<LoraAdapter> adapters => adapters.Select(a => (ScaledLoraAdapter)a).ToArray(),
            _ => throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{Key}\"] holds a {value.GetType().Name}; expected IReadOnlyList<ScaledLoraAdapter>.", nameof(options)),
        };
    }
}
