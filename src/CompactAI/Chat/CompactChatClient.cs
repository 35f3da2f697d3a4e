using System.Runtime.CompilerServices;
using System.Text;
using CompactAI.Inference;
using CompactAI.Sampling;
using CompactAI.Sampling.Constraints;
using Microsoft.Extensions.AI;

namespace CompactAI.Chat;

/// <summary>
/// <see cref="IChatClient"/> over a local <see cref="CompactModel"/>: renders the conversation with the model's chat
/// template, generates on a pooled session (so a conversation's earlier turns are not processed again), and maps
/// <see cref="ChatOptions"/> onto the sampler. Every response carries the generated tokens with their probabilities
/// (<see cref="CompactAIPropertyNames.Tokens"/>), which is what the hybrid router scores.
/// </summary>
/// <remarks>
/// Thread-safe: concurrent requests run on separate sessions, up to <see cref="CompactModelOptions.MaxParallelSequences"/>
/// at once; further requests wait. <c>ChatOptions.AdditionalProperties</c> may carry <c>min_p</c> and <c>repeat_penalty</c>,
/// and LoRA adapters under <see cref="LoraChatOptions.Key"/> (<see cref="LoraChatOptions.WithLoraAdapters"/>).
/// <c>ChatOptions.ResponseFormat</c>: <see cref="ChatResponseFormat.Json"/> constrains the answer to a JSON object
/// (<see cref="JsonConstraint.AnyObject"/>), <see cref="ChatResponseFormat.ForJsonSchema(System.Text.Json.JsonElement, string?, string?)"/>
/// to a document the schema accepts (<see cref="JsonConstraint.FromSchema(System.Text.Json.JsonElement)"/>; an unsupported
/// keyword throws <see cref="NotSupportedException"/>). An answer cut by the token limit finishes with
/// <see cref="ChatFinishReason.Length"/>.
/// <para><c>AdditionalProperties["top_logprobs"]</c> (<see cref="CompactAIPropertyNames.TopLogProbs"/>, 0–20) adds the most likely
/// alternatives to each token (<see cref="GeneratedToken.TopLogProbabilities"/>).</para>
/// <para>Tools: <c>ChatOptions.Tools</c> are rendered through the chat template's <c>tools</c> variable (see <see cref="SupportsTools"/>),
/// <see cref="FunctionCallContent"/> / <see cref="FunctionResultContent"/> as <c>tool_calls</c> and <c>tool</c> messages; calls in
/// the answer (Hermes/Qwen, Llama 3.x, Mistral or plain JSON) come back as <see cref="FunctionCallContent"/> with
/// <see cref="ChatFinishReason.ToolCalls"/>. <see cref="ChatToolMode.RequireAny"/> or a named function constrains decoding to one
/// valid call whose arguments satisfy the function's schema.</para>
/// </remarks>
public sealed class CompactChatClient : IChatClient, IPromptScorer
{
    private readonly CompactModel _model;
    private readonly CompactChatClientOptions _options;
    private readonly ChatClientMetadata _metadata;
    private readonly ChatTemplate _template;
    private readonly Lazy<bool> _supportsTools;

    /// <summary>Creates a client over <paramref name="model"/> (which it does not own).</summary>
    public CompactChatClient(CompactModel model, CompactChatClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _options = options ?? new CompactChatClientOptions();
        string modelId = _options.ModelId ?? Path.GetFileNameWithoutExtension(model.FilePath) ?? model.Config.Name ?? model.Config.Architecture;
        _metadata = new ChatClientMetadata("compactai", null, modelId);
        _template = _options.ChatTemplate is { } source
            ? ChatTemplate.Parse(source, BosText(model), EosText(model))
            : ChatTemplate.FromModelMetadata(model.Metadata, _options.ChatTemplateName);
        _supportsTools = new Lazy<bool>(() => ToolCalling.Supports(_template));
    }

    /// <summary>True when the chat template renders tool declarations (the <c>tools</c> variable), so <c>ChatOptions.Tools</c> can be used.</summary>
    public bool SupportsTools => _supportsTools.Value;

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false)) updates.Add(u);
        var response = updates.ToChatResponse();
        // ToChatResponse merges AdditionalProperties of updates; keep the per-response ones from the final update.
        var final = updates[^1];
        response.AdditionalProperties ??= new AdditionalPropertiesDictionary();
        foreach (var (k, v) in final.AdditionalProperties ?? []) response.AdditionalProperties[k] = v;
        response.AdditionalProperties.Remove(CompactAIPropertyNames.Token);
        response.AdditionalProperties.Remove(CompactAIPropertyNames.UpdateTokens);
        return response;
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var tools = ToolsOf(options);
        var generation = ToGenerationOptions(options, tools);
        var conversation = messages.ToList();
        // An implicit answer length (no MaxOutputTokens) shrinks to the context left rather than refusing a prompt that fits.
        bool implicitLength = options?.MaxOutputTokens is null;
        var prompt = Tokenize([.. conversation], implicitLength ? 1 : generation.MaxTokens, tools);
        if (implicitLength) generation = generation with { MaxTokens = Math.Min(generation.MaxTokens, _model.Sessions.ContextSize - prompt.Count) };
        string responseId = Guid.NewGuid().ToString("N");
        string messageId = Guid.NewGuid().ToString("N");
        var tokens = new List<GeneratedToken>();
        int promptEvaluated;
        FinishReason? finishReason;
        float[]? promptLogProbs = null;
        var streamer = tools is null ? null : new ToolCallStreamer(tools.Names, holdAll: tools.Forced is not null);
        var unsent = new List<GeneratedToken>(); // tokens whose text the streamer holds
        bool called = false;
        using (var lease = await _model.Sessions.RentAsync(prompt, generation.Adapters, cancellationToken).ConfigureAwait(false))
        {
            if (_options.ScorePrompts)
            {
                var user = UserTokens(conversation);
                if (user.Count >= 2) promptLogProbs = await lease.Session.ScoreAsync(user, cancellationToken).ConfigureAwait(false);
            }
            await foreach (var token in lease.Session.GenerateAsync(prompt, generation, cancellationToken).ConfigureAwait(false))
            {
                tokens.Add(token);
                if (streamer is null)
                {
                    yield return new ChatResponseUpdate(ChatRole.Assistant, token.Text)
                    {
                        ResponseId = responseId,
                        MessageId = messageId,
                        ModelId = _metadata.DefaultModelId,
                        AdditionalProperties = new() { [CompactAIPropertyNames.Token] = token },
                    };
                    continue;
                }
                unsent.Add(token);
                // Control tokens (Mistral's [TOOL_CALLS], Llama's <|python_tag|>) have no text of their own; the streamer needs to see them.
                string text = token.Text.Length == 0 && _model.Tokenizer.GetTokenType(token.Id) == Tokenization.TokenType.Control
                    ? _model.Tokenizer.GetTokenText(token.Id) : token.Text;
                var contents = streamer.Push(text);
                if (contents.Count == 0) continue;
                called |= contents.Any(c => c is FunctionCallContent);
                yield return ToolUpdate(contents, unsent, responseId, messageId);
            }
            promptEvaluated = lease.Session.LastPromptTokensEvaluated;
            finishReason = lease.Session.LastFinishReason;
        }
        if (streamer is not null)
        {
            var rest = streamer.Finish();
            if (rest.Count > 0)
            {
                called |= rest.Any(c => c is FunctionCallContent);
                yield return ToolUpdate(rest, unsent, responseId, messageId);
            }
        }

        // The session's own reason: a JSON document completed by the very last allowed token is finished, not cut.
        bool hitLimit = finishReason is FinishReason.MaxTokens or FinishReason.ContextFull;
        string finish = called ? CompactAIPropertyNames.FinishToolCalls : hitLimit ? CompactAIPropertyNames.FinishLength : CompactAIPropertyNames.FinishStop;
        yield return new ChatResponseUpdate
        {
            Role = ChatRole.Assistant,
            ResponseId = responseId,
            MessageId = messageId,
            ModelId = _metadata.DefaultModelId,
            FinishReason = called ? ChatFinishReason.ToolCalls : hitLimit ? ChatFinishReason.Length : ChatFinishReason.Stop,
            Contents = [new UsageContent(new UsageDetails
            {
                InputTokenCount = prompt.Count,
                OutputTokenCount = tokens.Count,
                TotalTokenCount = prompt.Count + tokens.Count,
            })],
            AdditionalProperties = new()
            {
                [CompactAIPropertyNames.Tokens] = tokens,
                [CompactAIPropertyNames.FinishReason] = finish,
                ["compactai.prompt_tokens_evaluated"] = promptEvaluated,
                [CompactAIPropertyNames.PromptLogProbabilities] = promptLogProbs,
            },
        };
    }

    /// <summary>An update of what the tool-call streamer let out, carrying the tokens it covers (<see cref="CompactAIPropertyNames.UpdateTokens"/>).</summary>
    private ChatResponseUpdate ToolUpdate(List<AIContent> contents, List<GeneratedToken> unsent, string responseId, string messageId)
    {
        var update = new ChatResponseUpdate(ChatRole.Assistant, contents)
        {
            ResponseId = responseId,
            MessageId = messageId,
            ModelId = _metadata.DefaultModelId,
            AdditionalProperties = new() { [CompactAIPropertyNames.UpdateTokens] = unsent.ToArray() },
        };
        unsent.Clear();
        return update;
    }

    /// <summary>
    /// Scores what the user asked: the text of the conversation's last user message (with the model's BOS), not the
    /// rendered template around it. The template's markup is the same for every request, and for a base model without a
    /// template it is itself out of domain, so including it would drown the signal the prompt gate looks for.
    /// </summary>
    public async ValueTask<PromptScore> ScorePromptAsync(IEnumerable<ChatMessage> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var prompt = UserTokens(messages);
        if (prompt.Count < 2) return PromptScore.FromLogProbabilities([]);
        using var lease = await _model.Sessions.RentAsync(prompt, cancellationToken).ConfigureAwait(false);
        var logProbs = await lease.Session.ScoreAsync(prompt, cancellationToken).ConfigureAwait(false);
        return PromptScore.FromLogProbabilities(logProbs);
    }

    /// <summary>The last user message's text as tokens (with BOS), at most a context's worth.</summary>
    private IReadOnlyList<int> UserTokens(IEnumerable<ChatMessage> messages)
    {
        string text = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text ?? "";
        var tokens = _model.Tokenizer.Encode(text, addSpecial: true);
        return tokens.Count > _model.Sessions.ContextSize ? tokens.Take(_model.Sessions.ContextSize).ToArray() : tokens;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType == typeof(CompactModel)) return _model;
        return null;
    }

    /// <summary>The chat template in use (the model's, a named variant, a custom one, or a built-in fallback).</summary>
    public ChatTemplate Template => _template;

    private static string BosText(CompactModel m) => m.Tokenizer.BosToken >= 0 ? m.Tokenizer.GetTokenText(m.Tokenizer.BosToken) : "";

    private static string EosText(CompactModel m) => m.Tokenizer.EosToken >= 0 ? m.Tokenizer.GetTokenText(m.Tokenizer.EosToken) : "";

    /// <summary>Does nothing: the model belongs to the caller.</summary>
    public void Dispose()
    {
    }

    /// <summary>Renders and tokenizes the conversation, applying the overflow policy so prompt + answer fit the context.</summary>
    private IReadOnlyList<int> Tokenize(List<ChatMessage> messages, int answerTokens, ToolSet? tools)
    {
        int budget = _model.Sessions.ContextSize - answerTokens;
        bool rich = tools is not null || messages.Any(m => m.Contents.Any(c => c is FunctionCallContent or FunctionResultContent));
        while (true)
        {
            string text = rich
                ? _template.Render(new Dictionary<string, object?>(StringComparer.Ordinal)
                {
                    ["messages"] = ToolCalling.Messages(messages),
                    ["add_generation_prompt"] = true,
                    ["tools"] = tools?.Variable,
                }) + (tools?.Forced is not null ? ToolCalling.ForcedPrefix(tools.Style) : "")
                : _template.Render(messages.Select(m => new ChatTurn(m.Role.Value, m.Text)).ToList(), addGenerationPrompt: true);
            bool startsWithBos = _model.Tokenizer.BosToken >= 0 && text.StartsWith(_model.Tokenizer.GetTokenText(_model.Tokenizer.BosToken), StringComparison.Ordinal);
            var tokens = _model.Tokenizer.Encode(text, addSpecial: !startsWithBos, parseSpecial: true);
            if (tokens.Count <= budget) return tokens;
            int oldest = messages.FindIndex(m => m.Role != ChatRole.System);
            bool canDrop = _options.ContextOverflow == ContextOverflowPolicy.DropOldestMessages && oldest >= 0
                           && messages.Count(m => m.Role != ChatRole.System) > 1;
            if (!canDrop)
                throw new InvalidOperationException(
                    $"The conversation needs {tokens.Count} prompt tokens plus {answerTokens} for the answer, but the context holds {_model.Sessions.ContextSize}. " +
                    "Shorten it, lower MaxOutputTokens, raise ContextSize, or set ContextOverflow = DropOldestMessages.");
            messages.RemoveAt(oldest);
        }
    }

    /// <summary>The tools of a request, when it offers any and does not switch them off (<see cref="ChatToolMode.None"/>).</summary>
    private sealed record ToolSet(IReadOnlySet<string> Names, List<object?> Variable, ToolCallStyle Style, IReadOnlyList<AIFunctionDeclaration>? Forced);

    private ToolSet? ToolsOf(ChatOptions? o)
    {
        var functions = o?.Tools?.OfType<AIFunctionDeclaration>().ToList();
        if (functions is null || functions.Count == 0 || o!.ToolMode is NoneChatToolMode) return null;
        if (!SupportsTools)
            throw new NotSupportedException(
                "The model's chat template does not render tools (it ignores the 'tools' variable), so this model cannot be offered functions. " +
                "Use a template with tool support (CompactChatClientOptions.ChatTemplate or ChatTemplateName, e.g. 'tool_use').");
        var names = new HashSet<string>(functions.Select(f => f.Name), StringComparer.Ordinal);
        IReadOnlyList<AIFunctionDeclaration>? forced = o.ToolMode switch
        {
            RequiredChatToolMode { RequiredFunctionName: { } name } => names.Contains(name)
                ? functions.Where(f => f.Name == name).Take(1).ToList()
                : throw new ArgumentException($"ToolMode requires the function '{name}', which is not among ChatOptions.Tools ({string.Join(", ", names)}).", nameof(o)),
            RequiredChatToolMode => functions,
            _ => null,
        };
        return new ToolSet(names, ToolCalling.Tools(functions), ToolCalling.StyleOf(_template), forced);
    }

    private GenerationOptions ToGenerationOptions(ChatOptions? o, ToolSet? tools)
    {
        var defaults = new SamplingOptions();
        var extra = o?.AdditionalProperties;
        var sampling = new SamplingOptions
        {
            Temperature = o?.Temperature ?? defaults.Temperature,
            TopP = o?.TopP ?? defaults.TopP,
            TopK = o?.TopK ?? defaults.TopK,
            MinP = extra is not null && extra.TryGetValue("min_p", out float minP) ? minP : defaults.MinP,
            RepeatPenalty = extra is not null && extra.TryGetValue("repeat_penalty", out float rp) ? rp : defaults.RepeatPenalty,
            FrequencyPenalty = o?.FrequencyPenalty ?? 0,
            PresencePenalty = o?.PresencePenalty ?? 0,
            Seed = o?.Seed is long seed ? unchecked((ulong)seed) : null,
        };
        return new GenerationOptions
        {
            MaxTokens = o?.MaxOutputTokens ?? _options.DefaultMaxOutputTokens,
            Sampling = sampling,
            StopSequences = o?.StopSequences?.ToArray() ?? [],
            Adapters = o.GetLoraAdapters(),
            AddSpecialTokens = false,
            ParseSpecialTokens = true,
            TopLogProbabilities = TopLogProbabilitiesOf(extra),
            Constraint = tools?.Forced is { } forced ? ToolCalling.CallConstraint(forced, tools.Style) : o?.ResponseFormat switch
            {
                ChatResponseFormatJson { Schema: { } schema } => JsonConstraint.FromSchema(schema),
                ChatResponseFormatJson => JsonConstraint.AnyObject,
                _ => null,
            },
        };
    }

    /// <summary><c>AdditionalProperties["top_logprobs"]</c> (an integer 0–20), honoured when <c>["logprobs"]</c> is not false.</summary>
    private static int TopLogProbabilitiesOf(AdditionalPropertiesDictionary? extra)
    {
        if (extra is null || !extra.TryGetValue(CompactAIPropertyNames.TopLogProbs, out int top)) return 0;
        if (extra.TryGetValue(CompactAIPropertyNames.LogProbs, out bool enabled) && !enabled) return 0;
        if (top is < 0 or > GenerationOptions.MaxTopLogProbabilities)
            throw new ArgumentOutOfRangeException(nameof(extra), top, $"top_logprobs must be between 0 and {GenerationOptions.MaxTopLogProbabilities}.");
        return top;
    }
}
