using System.Text;
using System.Text.Json;
using CompactAI.Inference;
using CompactAI.Sampling.Constraints;
using CompactAI.Tokenization;
using Microsoft.Extensions.AI;

namespace CompactAI.Server;

/// <summary>
/// The chat-completions fields beyond sampling: <c>response_format</c>, <c>tools</c>, <c>tool_choice</c>,
/// <c>parallel_tool_calls</c>, <c>logprobs</c> / <c>top_logprobs</c>, and the tool-call shapes of messages; each mapped onto
/// <see cref="ChatOptions"/> (what <see cref="Chat.CompactChatClient"/> understands) and refused with a 400 naming the field
/// when it cannot be honoured.
/// </summary>
public sealed record ChatFeatures
{
    /// <summary><c>logprobs</c>: return the chosen tokens' log-probabilities.</summary>
    public bool LogProbs { get; init; }

    /// <summary><c>top_logprobs</c> (0–20): alternatives per token.</summary>
    public int TopLogProbs { get; init; }

    /// <summary>Whether the request offers tools (and does not switch them off with <c>tool_choice: "none"</c>).</summary>
    public bool UsesTools { get; init; }

    /// <summary>Reads the fields from <paramref name="root"/> and sets them on <paramref name="options"/>.</summary>
    public static ChatFeatures Apply(JsonElement root, ChatOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ResponseFormat = ResponseFormat(root);
        bool logProbs = Json.Bool(root, "logprobs") ?? false;
        int top = Json.Int(root, "top_logprobs", 0, GenerationOptions.MaxTopLogProbabilities) ?? 0;
        if (top > 0 && !logProbs) throw OpenAIException.Invalid("'top_logprobs' requires 'logprobs' to be true.", "top_logprobs");
        if (logProbs)
        {
            options.AdditionalProperties ??= [];
            options.AdditionalProperties[CompactAIPropertyNames.LogProbs] = true;
            options.AdditionalProperties[CompactAIPropertyNames.TopLogProbs] = top;
        }
        var tools = Tools(root);
        if (tools.Count > 0) options.Tools = [.. tools];
        options.ToolMode = ToolChoice(root, tools);
        if (Json.Bool(root, "parallel_tool_calls") is { } parallel) options.AllowMultipleToolCalls = parallel;
        return new ChatFeatures { LogProbs = logProbs, TopLogProbs = top, UsesTools = tools.Count > 0 && options.ToolMode is not NoneChatToolMode };
    }

    private static ChatResponseFormat? ResponseFormat(JsonElement root)
    {
        if (!root.TryGetProperty("response_format", out var f) || f.ValueKind == JsonValueKind.Null) return null;
        if (f.ValueKind != JsonValueKind.Object) throw OpenAIException.Invalid("'response_format' must be an object.", "response_format", "invalid_type");
        switch (Json.String(f, "type"))
        {
            case "text":
                return null;
            case "json_object":
                return ChatResponseFormat.Json;
            case "json_schema":
                if (!f.TryGetProperty("json_schema", out var js) || js.ValueKind != JsonValueKind.Object)
                    throw OpenAIException.Invalid("'response_format.json_schema' is required and must be an object.", "response_format.json_schema", "missing_required_parameter");
                string? name = Json.String(js, "name");
                string? description = Json.String(js, "description");
                Json.Bool(js, "strict");
                if (!js.TryGetProperty("schema", out var schema) || schema.ValueKind == JsonValueKind.Null) return ChatResponseFormat.Json;
                CheckSchema(schema, "response_format.json_schema.schema");
                return ChatResponseFormat.ForJsonSchema(schema.Clone(), name, description);
            case null:
                throw OpenAIException.Invalid("'response_format.type' is required.", "response_format.type", "missing_required_parameter");
            case var other:
                throw OpenAIException.Invalid($"'response_format.type' must be one of text, json_object, json_schema (got '{other}').", "response_format.type");
        }
    }

    /// <summary>Compiles a schema as the constrained decoding will, so an unsupported keyword is a 400 naming it.</summary>
    private static void CheckSchema(JsonElement schema, string param)
    {
        try
        {
            JsonConstraint.FromSchema(schema);
        }
        catch (Exception e) when (e is NotSupportedException or ArgumentException)
        {
            throw OpenAIException.Invalid($"'{param}' cannot be used for constrained decoding: {e.Message}", param, "unsupported_schema");
        }
    }

    private static List<AIFunctionDeclaration> Tools(JsonElement root)
    {
        var result = new List<AIFunctionDeclaration>();
        if (!root.TryGetProperty("tools", out var tools) || tools.ValueKind == JsonValueKind.Null) return result;
        if (tools.ValueKind != JsonValueKind.Array) throw OpenAIException.Invalid("'tools' must be an array of function tools.", "tools", "invalid_type");
        var names = new HashSet<string>(StringComparer.Ordinal);
        int i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            string param = $"tools[{i++}]";
            if (tool.ValueKind != JsonValueKind.Object) throw OpenAIException.Invalid($"'{param}' must be an object.", param, "invalid_type");
            if (Json.String(tool, "type") is var type && type != "function")
                throw OpenAIException.Invalid($"'{param}.type' must be 'function' (got '{type}').", $"{param}.type");
            if (!tool.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object)
                throw OpenAIException.Invalid($"'{param}.function' is required and must be an object.", $"{param}.function", "missing_required_parameter");
            string name = Json.String(f, "name") ?? throw OpenAIException.Invalid($"'{param}.function.name' is required.", $"{param}.function.name", "missing_required_parameter");
            if (name.Length == 0 || name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                throw OpenAIException.Invalid($"'{param}.function.name' must be 1 to 64 letters, digits, '_' or '-' (got '{name}').", $"{param}.function.name");
            if (!names.Add(name)) throw OpenAIException.Invalid($"'{param}.function.name': the function '{name}' is declared twice.", $"{param}.function.name");
            string? description = Json.String(f, "description");
            Json.Bool(f, "strict");
            JsonElement parameters;
            if (f.TryGetProperty("parameters", out var p) && p.ValueKind != JsonValueKind.Null)
            {
                if (p.ValueKind != JsonValueKind.Object) throw OpenAIException.Invalid($"'{param}.function.parameters' must be a JSON Schema object.", $"{param}.function.parameters", "invalid_type");
                parameters = p.Clone();
            }
            else
            {
                using var empty = JsonDocument.Parse("""{"type":"object","properties":{}}""");
                parameters = empty.RootElement.Clone();
            }
            result.Add(AIFunctionFactory.CreateDeclaration(name, description, parameters));
        }
        return result;
    }

    private static ChatToolMode? ToolChoice(JsonElement root, List<AIFunctionDeclaration> tools)
    {
        if (!root.TryGetProperty("tool_choice", out var c) || c.ValueKind == JsonValueKind.Null) return null;
        ChatToolMode mode;
        if (c.ValueKind == JsonValueKind.String)
        {
            mode = c.GetString() switch
            {
                "none" => ChatToolMode.None,
                "auto" => ChatToolMode.Auto,
                "required" => ChatToolMode.RequireAny,
                var other => throw OpenAIException.Invalid($"'tool_choice' must be 'none', 'auto', 'required' or a function object (got '{other}').", "tool_choice"),
            };
        }
        else if (c.ValueKind == JsonValueKind.Object)
        {
            if (Json.String(c, "type") != "function" || !c.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object || Json.String(f, "name") is not { } name)
                throw OpenAIException.Invalid("'tool_choice' as an object must be {\"type\":\"function\",\"function\":{\"name\":...}}.", "tool_choice");
            if (!tools.Any(t => t.Name == name)) throw OpenAIException.Invalid($"'tool_choice' names the function '{name}', which is not in 'tools'.", "tool_choice");
            mode = ChatToolMode.RequireSpecific(name);
        }
        else throw OpenAIException.Invalid("'tool_choice' must be a string or an object.", "tool_choice", "invalid_type");
        if (mode is RequiredChatToolMode && tools.Count == 0) throw OpenAIException.Invalid("'tool_choice' requires a tool call, but 'tools' is empty.", "tool_choice");
        return mode;
    }

    /// <summary>
    /// A message with its tool-call parts: an assistant's <c>tool_calls</c> (arguments as a JSON string) become
    /// <see cref="FunctionCallContent"/>, a <c>tool</c> message (<c>tool_call_id</c>) a <see cref="FunctionResultContent"/>.
    /// </summary>
    public static ChatMessage Message(ChatRole role, JsonElement m, string param, string content)
    {
        if (role == ChatRole.Tool)
        {
            string id = Json.String(m, "tool_call_id")
                ?? throw OpenAIException.Invalid($"'{param}.tool_call_id' is required for a tool message.", $"{param}.tool_call_id", "missing_required_parameter");
            return new ChatMessage(ChatRole.Tool, [new FunctionResultContent(id, content)]);
        }
        if (role != ChatRole.Assistant || !m.TryGetProperty("tool_calls", out var calls) || calls.ValueKind == JsonValueKind.Null)
            return new ChatMessage(role, content);
        if (calls.ValueKind != JsonValueKind.Array) throw OpenAIException.Invalid($"'{param}.tool_calls' must be an array.", $"{param}.tool_calls", "invalid_type");
        var contents = new List<AIContent>();
        if (content.Length > 0) contents.Add(new TextContent(content));
        int i = 0;
        foreach (var call in calls.EnumerateArray())
        {
            string p = $"{param}.tool_calls[{i++}]";
            if (call.ValueKind != JsonValueKind.Object || !call.TryGetProperty("function", out var f) || f.ValueKind != JsonValueKind.Object)
                throw OpenAIException.Invalid($"'{p}' must be an object with a 'function'.", p, "invalid_type");
            string id = Json.String(call, "id") ?? throw OpenAIException.Invalid($"'{p}.id' is required.", $"{p}.id", "missing_required_parameter");
            string name = Json.String(f, "name") ?? throw OpenAIException.Invalid($"'{p}.function.name' is required.", $"{p}.function.name", "missing_required_parameter");
            string arguments = Json.String(f, "arguments") ?? "{}";
            Dictionary<string, object?> args;
            try
            {
                using var doc = JsonDocument.Parse(arguments.Length == 0 ? "{}" : arguments);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new JsonException("not an object");
                args = doc.RootElement.EnumerateObject().ToDictionary(x => x.Name, x => (object?)x.Value.Clone(), StringComparer.Ordinal);
            }
            catch (JsonException)
            {
                throw OpenAIException.Invalid($"'{p}.function.arguments' must be a JSON object in a string.", $"{p}.function.arguments");
            }
            contents.Add(new FunctionCallContent(id, name, args));
        }
        return new ChatMessage(ChatRole.Assistant, contents);
    }

    /// <summary>Calls in OpenAI's shape: <c>[{"id","type":"function","function":{"name","arguments": JSON string}}]</c> (with <c>index</c> for stream deltas).</summary>
    public static object[] ToolCalls(IEnumerable<FunctionCallContent> calls, bool withIndex, int firstIndex = 0) =>
        calls.Select((c, i) => withIndex
            ? (object)new { index = firstIndex + i, id = c.CallId, type = "function", function = new { name = c.Name, arguments = ArgumentsJson(c) } }
            : new { id = c.CallId, type = "function", function = new { name = c.Name, arguments = ArgumentsJson(c) } }).ToArray();

    private static readonly JsonSerializerOptions s_compact = new(AIJsonUtilities.DefaultOptions) { WriteIndented = false };

    private static string ArgumentsJson(FunctionCallContent c) => JsonSerializer.Serialize(c.Arguments ?? new Dictionary<string, object?>(), s_compact);

    /// <summary>Chat log-probabilities: <c>{"content":[{"token","logprob","bytes","top_logprobs":[…]}],"refusal":null}</c>.</summary>
    public static object ChatLogProbs(IEnumerable<GeneratedToken> tokens, ModelTokenizer tokenizer, int top) => new
    {
        content = tokens.Select(t =>
        {
            var (text, bytes) = Piece(tokenizer, t.Id);
            return new
            {
                token = text,
                logprob = t.LogProbability,
                bytes,
                top_logprobs = (t.TopLogProbabilities ?? []).Take(top).Select(a =>
                {
                    var (at, ab) = Piece(tokenizer, a.Id);
                    return new { token = at, logprob = a.LogProbability, bytes = ab };
                }).ToArray(),
            };
        }).ToArray(),
        refusal = (string?)null,
    };

    /// <summary>Legacy completions log-probabilities: <c>{"tokens","token_logprobs","top_logprobs","text_offset"}</c>.</summary>
    public static object CompletionLogProbs(IReadOnlyList<GeneratedToken> tokens, ModelTokenizer tokenizer, int top, int textOffset)
    {
        var pieces = tokens.Select(t => Piece(tokenizer, t.Id).Text).ToArray();
        var offsets = new int[tokens.Count];
        int offset = textOffset;
        for (int i = 0; i < tokens.Count; i++) { offsets[i] = offset; offset += tokens[i].Text.Length; }
        return new
        {
            tokens = pieces,
            token_logprobs = tokens.Select(t => t.LogProbability).ToArray(),
            top_logprobs = tokens.Select(t =>
            {
                var d = new Dictionary<string, float>(StringComparer.Ordinal);
                foreach (var a in (t.TopLogProbabilities ?? []).Take(top)) d.TryAdd(Piece(tokenizer, a.Id).Text, a.LogProbability);
                return d;
            }).ToArray(),
            text_offset = offsets,
        };
    }

    /// <summary>A token's own bytes (control tokens: none) and their UTF-8 reading (a partial character reads as U+FFFD, as OpenAI's do).</summary>
    private static (string Text, int[] Bytes) Piece(ModelTokenizer tokenizer, int id)
    {
        var bytes = new List<byte>();
        tokenizer.AppendTokenBytes(id, bytes);
        var array = bytes.ToArray();
        return (Encoding.UTF8.GetString(array), array.Select(b => (int)b).ToArray());
    }
}
