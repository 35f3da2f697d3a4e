using System.Text.Json;
using Microsoft.Extensions.AI;

namespace CompactAI.Server;

/// <summary>Sampling and length settings shared by <c>/v1/chat/completions</c> and <c>/v1/completions</c>.</summary>
public sealed record SamplingRequest
{
    /// <summary>The model named by the request (informational: the server runs one model).</summary>
    public string? Model { get; init; }

    /// <summary><c>max_tokens</c> or <c>max_completion_tokens</c>.</summary>
    public int? MaxTokens { get; init; }

    /// <summary><c>temperature</c> (0 is greedy).</summary>
    public float? Temperature { get; init; }

    /// <summary><c>top_p</c>.</summary>
    public float? TopP { get; init; }

    /// <summary><c>top_k</c> (an extension some OpenAI-compatible servers accept).</summary>
    public int? TopK { get; init; }

    /// <summary><c>min_p</c> (extension).</summary>
    public float? MinP { get; init; }

    /// <summary><c>repeat_penalty</c> (extension).</summary>
    public float? RepeatPenalty { get; init; }

    /// <summary><c>frequency_penalty</c>.</summary>
    public float? FrequencyPenalty { get; init; }

    /// <summary><c>presence_penalty</c>.</summary>
    public float? PresencePenalty { get; init; }

    /// <summary><c>seed</c>: any integer from −2^63 to 2^64−1; one above <see cref="long.MaxValue"/> is kept as the <see cref="long"/> of the same 64 bits (the sampler's seed is those bits, unsigned).</summary>
    public long? Seed { get; init; }

    /// <summary><c>stop</c>: a string or up to four strings.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary><c>stream</c>.</summary>
    public bool Stream { get; init; }

    /// <summary><c>stream_options.include_usage</c>.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>Reads the shared fields of a request body, checking types and ranges.</summary>
    /// <param name="root">The request object.</param>
    /// <param name="maxTokensLimit">The largest <c>max_tokens</c> allowed.</param>
    public static SamplingRequest Parse(JsonElement root, int maxTokensLimit)
    {
        int? maxTokens = Json.Int(root, "max_completion_tokens", 1, maxTokensLimit) ?? Json.Int(root, "max_tokens", 1, maxTokensLimit);
        if (Json.Int(root, "n", 1, int.MaxValue) is > 1) throw OpenAIException.Invalid("Only n = 1 is supported.", "n");
        bool stream = Json.Bool(root, "stream") ?? false;
        bool includeUsage = false;
        if (root.TryGetProperty("stream_options", out var so) && so.ValueKind != JsonValueKind.Null)
        {
            if (so.ValueKind != JsonValueKind.Object) throw OpenAIException.Invalid("stream_options must be an object.", "stream_options", "invalid_type");
            includeUsage = Json.Bool(so, "include_usage") ?? false;
        }
        return new SamplingRequest
        {
            Model = Json.String(root, "model"),
            MaxTokens = maxTokens,
            Temperature = Json.Float(root, "temperature", 0, 2),
            TopP = Json.Float(root, "top_p", 0, 1),
            TopK = Json.Int(root, "top_k", 0, int.MaxValue),
            MinP = Json.Float(root, "min_p", 0, 1),
            RepeatPenalty = Json.Float(root, "repeat_penalty", 0, 10),
            FrequencyPenalty = Json.Float(root, "frequency_penalty", -2, 2),
            PresencePenalty = Json.Float(root, "presence_penalty", -2, 2),
            Seed = Json.Seed(root, "seed"),
            Stop = Json.StringOrStrings(root, "stop", 4),
            Stream = stream,
            IncludeUsage = includeUsage,
        };
    }

    /// <summary>The settings as Microsoft.Extensions.AI chat options.</summary>
    public ChatOptions ToChatOptions()
    {
        var options = new ChatOptions
        {
            ModelId = Model,
            MaxOutputTokens = MaxTokens,
            Temperature = Temperature,
            TopP = TopP,
            TopK = TopK,
            FrequencyPenalty = FrequencyPenalty,
            PresencePenalty = PresencePenalty,
            Seed = Seed,
            StopSequences = Stop.Count > 0 ? Stop.ToList() : null,
        };
        if (MinP is not null || RepeatPenalty is not null)
        {
            options.AdditionalProperties = new AdditionalPropertiesDictionary();
            if (MinP is { } minP) options.AdditionalProperties["min_p"] = minP;
            if (RepeatPenalty is { } rp) options.AdditionalProperties["repeat_penalty"] = rp;
        }
        return options;
    }
}

/// <summary>Reads a chat-completions request's <c>messages</c>.</summary>
public static class ChatMessagesParser
{
    /// <summary>Maps the OpenAI messages (text content: a string or text parts) onto <see cref="ChatMessage"/>s.</summary>
    public static List<ChatMessage> Parse(JsonElement root)
    {
        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
            throw OpenAIException.Invalid("'messages' is required and must be an array.", "messages", "missing_required_parameter");
        if (messages.GetArrayLength() == 0) throw OpenAIException.Invalid("'messages' must not be empty.", "messages");
        var result = new List<ChatMessage>();
        int i = 0;
        foreach (var m in messages.EnumerateArray())
        {
            string param = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw OpenAIException.Invalid($"{param} must be an object.", param, "invalid_type");
            ChatRole role = Json.String(m, "role") switch
            {
                "system" or "developer" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                "tool" => ChatRole.Tool,
                null => throw OpenAIException.Invalid($"{param}.role is required.", $"{param}.role", "missing_required_parameter"),
                var other => throw OpenAIException.Invalid($"{param}.role '{other}' is not one of system, developer, user, assistant, tool.", $"{param}.role"),
            };
            result.Add(ChatFeatures.Message(role, m, param, Content(m, $"{param}.content")));
        }
        return result;
    }

    private static string Content(JsonElement message, string param)
    {
        if (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null) return "";
        if (content.ValueKind == JsonValueKind.String) return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array) throw OpenAIException.Invalid($"{param} must be a string or an array of content parts.", param, "invalid_type");
        var text = new System.Text.StringBuilder();
        foreach (var part in content.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || Json.String(part, "type") != "text")
                throw OpenAIException.Invalid($"{param}: only text content parts are supported.", param);
            text.Append(Json.String(part, "text"));
        }
        return text.ToString();
    }
}

/// <summary>Typed reads of optional request fields; a wrong type or range is a 400 naming the field.</summary>
internal static class Json
{
    public static string? String(JsonElement o, string name) =>
        Get(o, name) is { } e ? e.ValueKind == JsonValueKind.String ? e.GetString() : throw Type(name, "a string") : null;

    public static bool? Bool(JsonElement o, string name) =>
        Get(o, name) is { } e ? e.ValueKind is JsonValueKind.True or JsonValueKind.False ? e.GetBoolean() : throw Type(name, "a boolean") : null;

    public static int? Int(JsonElement o, string name, int min, int max)
    {
        if (Get(o, name) is not { } e) return null;
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt64(out long v)) throw Type(name, "an integer");
        if (v < min || v > max) throw OpenAIException.Invalid($"'{name}' must be between {min} and {max} (got {v}).", name);
        return (int)v;
    }

    /// <summary>A 64-bit seed: signed, or unsigned up to 2^64−1 (returned as the same bits).</summary>
    public static long? Seed(JsonElement o, string name)
    {
        if (Get(o, name) is not { } e) return null;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long v)) return v;
        if (e.ValueKind == JsonValueKind.Number && e.TryGetUInt64(out ulong u)) return unchecked((long)u);
        throw OpenAIException.Invalid($"'{name}' must be an integer from -2^63 to 2^64-1.", name, "invalid_type");
    }

    public static float? Float(JsonElement o, string name, float min, float max)
    {
        if (Get(o, name) is not { } e) return null;
        if (e.ValueKind != JsonValueKind.Number) throw Type(name, "a number");
        double v = e.GetDouble();
        if (v < min || v > max) throw OpenAIException.Invalid($"'{name}' must be between {min} and {max} (got {v}).", name);
        return (float)v;
    }

    public static IReadOnlyList<string> StringOrStrings(JsonElement o, string name, int maxCount)
    {
        if (Get(o, name) is not { } e) return [];
        if (e.ValueKind == JsonValueKind.String) return [e.GetString()!];
        if (e.ValueKind != JsonValueKind.Array) throw Type(name, "a string or an array of strings");
        var list = new List<string>();
        foreach (var item in e.EnumerateArray())
            list.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw Type(name, "a string or an array of strings"));
        if (list.Count > maxCount) throw OpenAIException.Invalid($"'{name}' holds at most {maxCount} strings (got {list.Count}).", name);
        return list;
    }

    private static JsonElement? Get(JsonElement o, string name) =>
        o.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null ? e : null;

    private static OpenAIException Type(string name, string what) => OpenAIException.Invalid($"'{name}' must be {what}.", name, "invalid_type");
}
