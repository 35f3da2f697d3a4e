using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using CompactAI.Sampling.Constraints;
using Microsoft.Extensions.AI;

namespace CompactAI.Chat;

/// <summary>
/// Tool calling over a model's own chat template: the <c>tools</c> and <c>messages</c> variables as Hugging Face's
/// <c>apply_chat_template</c> receives them, the call formats small models are trained to write, and the constraint that
/// forces a call when one is required.
/// </summary>
internal static partial class ToolCalling
{
    private static readonly JsonSerializerOptions s_json = new(AIJsonUtilities.DefaultOptions) { WriteIndented = false };

    /// <summary>The conversation as template messages: tool calls under <c>tool_calls</c>, results as <c>tool</c> messages.</summary>
    public static List<object?> Messages(IReadOnlyList<ChatMessage> messages)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal); // call id → function name, for the results
        var list = new List<object?>(messages.Count);
        foreach (var m in messages)
        {
            var calls = m.Contents.OfType<FunctionCallContent>().ToList();
            var results = m.Contents.OfType<FunctionResultContent>().ToList();
            if (results.Count > 0)
            {
                foreach (var r in results)
                {
                    var tool = new Dictionary<string, object?>(StringComparer.Ordinal)
                    {
                        ["role"] = "tool",
                        ["content"] = ResultText(r.Result),
                        ["tool_call_id"] = r.CallId,
                    };
                    if (names.TryGetValue(r.CallId, out var name)) tool["name"] = name;
                    list.Add(tool);
                }
                continue;
            }
            var message = new Dictionary<string, object?>(StringComparer.Ordinal) { ["role"] = m.Role.Value, ["content"] = m.Text };
            if (calls.Count > 0)
            {
                message["tool_calls"] = calls.Select(c =>
                {
                    names[c.CallId] = c.Name;
                    return (object?)new Dictionary<string, object?>(StringComparer.Ordinal)
                    {
                        ["id"] = c.CallId,
                        ["type"] = "function",
                        ["function"] = new Dictionary<string, object?>(StringComparer.Ordinal)
                        {
                            ["name"] = c.Name,
                            ["arguments"] = JsonSerializer.SerializeToElement(c.Arguments ?? new Dictionary<string, object?>(), s_json),
                        },
                    };
                }).ToList();
            }
            list.Add(message);
        }
        return list;
    }

    /// <summary>The <c>tools</c> variable: <c>[{"type":"function","function":{"name","description","parameters"}}]</c>.</summary>
    public static List<object?> Tools(IReadOnlyList<AIFunctionDeclaration> functions) =>
        functions.Select(f =>
        {
            var function = new Dictionary<string, object?>(StringComparer.Ordinal) { ["name"] = f.Name };
            if (!string.IsNullOrEmpty(f.Description)) function["description"] = f.Description;
            function["parameters"] = f.JsonSchema;
            return (object?)new Dictionary<string, object?>(StringComparer.Ordinal) { ["type"] = "function", ["function"] = function };
        }).ToList();

    /// <summary>A function result as the text of a tool message: a string as it is, anything else as JSON.</summary>
    public static string ResultText(object? result) => result switch
    {
        null => "",
        string s => s,
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
        JsonElement e => e.GetRawText(),
        _ => JsonSerializer.Serialize(result, s_json),
    };

    /// <summary>A call id: nine letters and digits (Mistral's templates refuse any other length; OpenAI clients accept any string).</summary>
    public static string NewCallId()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        Span<char> id = stackalloc char[9];
        for (int i = 0; i < id.Length; i++) id[i] = alphabet[Random.Shared.Next(alphabet.Length)];
        return new string(id);
    }

    /// <summary>True when the template renders the tools it is given (as llama.cpp decides: a probe function's name appears in the prompt).</summary>
    public static bool Supports(ChatTemplate template)
    {
        const string probe = "compactai_probe_function";
        using var schema = JsonDocument.Parse("""{"type":"object","properties":{"x":{"type":"string"}},"required":["x"]}""");
        var tools = Tools([AIFunctionFactory.CreateDeclaration(probe, "Probe.", schema.RootElement.Clone())]);
        try
        {
            string text = template.Render(new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["messages"] = new List<object?> { new Dictionary<string, object?>(StringComparer.Ordinal) { ["role"] = "user", ["content"] = "hi" } },
                ["add_generation_prompt"] = true,
                ["tools"] = tools,
            });
            return text.Contains(probe, StringComparison.Ordinal);
        }
        catch (ChatTemplateException)
        {
            return false;
        }
    }

    /// <summary>How the model's template writes a call, from what its source asks the model to produce.</summary>
    public static ToolCallStyle StyleOf(ChatTemplate template)
    {
        string s = template.Source;
        if (s.Contains("<tool_call>", StringComparison.Ordinal)) return ToolCallStyle.Hermes;
        if (s.Contains("[TOOL_CALLS]", StringComparison.Ordinal)) return ToolCallStyle.Mistral;
        if (s.Contains("\"parameters\": dictionary of argument name", StringComparison.Ordinal)) return ToolCallStyle.Llama3;
        return ToolCallStyle.Json;
    }

    /// <summary>What a forced call starts with in the prompt, so the model writes it in its own format: the opening tag or token.</summary>
    public static string ForcedPrefix(ToolCallStyle style) => style switch
    {
        ToolCallStyle.Hermes => "<tool_call>\n",
        ToolCallStyle.Mistral => "[TOOL_CALLS]",
        _ => "",
    };

    /// <summary>
    /// The constraint for a required call: <c>{"name": const, "arguments": the function's parameters schema}</c> for each
    /// candidate (Llama 3 templates name the arguments <c>parameters</c>), any of them.
    /// </summary>
    /// <exception cref="NotSupportedException">A parameters schema uses a keyword outside <see cref="JsonConstraint"/>'s subset.</exception>
    public static IGenerationConstraint CallConstraint(IReadOnlyList<AIFunctionDeclaration> candidates, ToolCallStyle style)
    {
        string argumentsKey = style == ToolCallStyle.Llama3 ? "parameters" : "arguments";
        var alternatives = new List<IGenerationConstraint>(candidates.Count);
        foreach (var f in candidates)
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("type", "object");
                w.WriteStartObject("properties");
                w.WriteStartObject("name");
                w.WriteString("const", f.Name);
                w.WriteEndObject();
                w.WritePropertyName(argumentsKey);
                var parameters = f.JsonSchema;
                if (parameters.ValueKind == JsonValueKind.Object) parameters.WriteTo(w);
                else { w.WriteStartObject(); w.WriteString("type", "object"); w.WriteEndObject(); }
                w.WriteEndObject();
                w.WriteStartArray("required");
                w.WriteStringValue("name");
                w.WriteStringValue(argumentsKey);
                w.WriteEndArray();
                w.WriteBoolean("additionalProperties", false);
                w.WriteEndObject();
            }
            using var doc = JsonDocument.Parse(buffer.WrittenMemory);
            try
            {
                alternatives.Add(JsonConstraint.FromSchema(doc.RootElement));
            }
            catch (NotSupportedException e)
            {
                throw new NotSupportedException($"The parameters schema of function '{f.Name}' cannot constrain a call: {e.Message}", e);
            }
        }
        return alternatives.Count == 1 ? alternatives[0] : new AnyOfConstraint(alternatives);
    }

    /// <summary>
    /// The calls in a model's output, with the text around them: Hermes/Qwen <c>&lt;tool_call&gt;{…}&lt;/tool_call&gt;</c> blocks,
    /// Mistral <c>[TOOL_CALLS][{…}]</c> (or <c>[TOOL_CALLS]name[ARGS]{…}</c>), and an output that is nothing but JSON (Llama 3.x
    /// <c>{"name", "parameters"}</c>, optionally after <c>&lt;|python_tag|&gt;</c> or in a code fence; <c>{"name", "arguments"}</c>;
    /// an array of those; <c>{"tool_calls": […]}</c>). Only functions in <paramref name="names"/> count; anything else stays text.
    /// </summary>
    public static (string Text, List<FunctionCallContent> Calls) Parse(string output, IReadOnlySet<string> names)
    {
        var calls = new List<FunctionCallContent>();
        // Hermes / Qwen: tagged blocks anywhere in the text (the last may lack its closing tag when generation stopped there).
        if (output.Contains("<tool_call>", StringComparison.Ordinal))
        {
            var text = new StringBuilder();
            int pos = 0;
            foreach (Match m in HermesBlock().Matches(output))
            {
                if (!TryCalls(m.Groups[1].Value, names, calls)) continue;
                text.Append(output, pos, m.Index - pos);
                pos = m.Index + m.Length;
            }
            text.Append(output, pos, output.Length - pos);
            if (calls.Count > 0) return (text.ToString().Trim(), calls);
        }
        int mistral = output.IndexOf("[TOOL_CALLS]", StringComparison.Ordinal);
        if (mistral >= 0)
        {
            string rest = output[(mistral + "[TOOL_CALLS]".Length)..];
            int args = rest.IndexOf("[ARGS]", StringComparison.Ordinal);
            if (args > 0 && !rest[..args].TrimStart().StartsWith('['))
            {
                string name = rest[..args].Trim();
                if (names.Contains(name) && TryArguments(rest[(args + "[ARGS]".Length)..].Trim(), out var arguments))
                {
                    calls.Add(new FunctionCallContent(NewCallId(), name, arguments));
                    return (output[..mistral].Trim(), calls);
                }
            }
            else if (TryCalls(rest, names, calls)) return (output[..mistral].Trim(), calls);
        }
        // The whole output as JSON.
        string json = output.Trim();
        if (json.StartsWith("<|python_tag|>", StringComparison.Ordinal)) json = json["<|python_tag|>".Length..].Trim();
        if (json.StartsWith("```", StringComparison.Ordinal) && json.EndsWith("```", StringComparison.Ordinal) && json.Length >= 6)
        {
            json = json[3..^3];
            if (json.StartsWith("json", StringComparison.Ordinal)) json = json[4..];
            json = json.Trim();
        }
        if (json.Length > 0 && (json[0] is '{' or '[') && TryCalls(json, names, calls)) return ("", calls);
        calls.Clear();
        return (output, calls);
    }

    /// <summary>Adds the calls of one JSON value (a call object, an array of them, or <c>{"tool_calls": […]}</c>); false (adding none) unless all are calls.</summary>
    private static bool TryCalls(string json, IReadOnlySet<string> names, List<FunctionCallContent> calls)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.Trim(), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            return false;
        }
        using (doc)
        {
            var found = new List<FunctionCallContent>();
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("tool_calls", out var inner) && inner.ValueKind == JsonValueKind.Array) root = inner;
            if (root.ValueKind == JsonValueKind.Array)
            {
                if (root.GetArrayLength() == 0) return false;
                foreach (var item in root.EnumerateArray())
                    if (!TryCall(item, names, found)) return false;
            }
            else if (!TryCall(root, names, found)) return false;
            calls.AddRange(found);
            return true;
        }
    }

    private static bool TryCall(JsonElement e, IReadOnlySet<string> names, List<FunctionCallContent> calls)
    {
        if (e.ValueKind != JsonValueKind.Object) return false;
        if (e.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
        {
            string? id = e.TryGetProperty("id", out var outerId) && outerId.ValueKind == JsonValueKind.String ? outerId.GetString() : null;
            e = function;
            if (!TryCallObject(e, names, id, calls)) return false;
            return true;
        }
        return TryCallObject(e, names, e.TryGetProperty("id", out var i) && i.ValueKind == JsonValueKind.String ? i.GetString() : null, calls);
    }

    private static bool TryCallObject(JsonElement e, IReadOnlySet<string> names, string? id, List<FunctionCallContent> calls)
    {
        if (!e.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String || !names.Contains(n.GetString()!)) return false;
        JsonElement args;
        if (!e.TryGetProperty("arguments", out args) && !e.TryGetProperty("parameters", out args))
            args = default;
        Dictionary<string, object?>? arguments;
        if (args.ValueKind == JsonValueKind.Undefined || args.ValueKind == JsonValueKind.Null) arguments = [];
        else if (args.ValueKind == JsonValueKind.Object) arguments = ArgumentsOf(args);
        else if (args.ValueKind == JsonValueKind.String && TryArguments(args.GetString()!, out var parsed)) arguments = parsed;
        else return false;
        calls.Add(new FunctionCallContent(string.IsNullOrEmpty(id) ? NewCallId() : id, n.GetString()!, arguments));
        return true;
    }

    /// <summary>Arguments from JSON text (an object); false when it is not one.</summary>
    public static bool TryArguments(string json, out Dictionary<string, object?> arguments)
    {
        arguments = [];
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return false;
            arguments = ArgumentsOf(doc.RootElement);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static Dictionary<string, object?> ArgumentsOf(JsonElement obj)
    {
        var d = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var p in obj.EnumerateObject()) d[p.Name] = p.Value.Clone();
        return d;
    }

    [GeneratedRegex(@"<tool_call>\s*(.*?)\s*(?:</tool_call>|\z)", RegexOptions.Singleline)]
    private static partial Regex HermesBlock();
}

/// <summary>How a template's model writes a tool call.</summary>
internal enum ToolCallStyle
{
    /// <summary>Plain JSON <c>{"name", "arguments"}</c>.</summary>
    Json,
    /// <summary><c>&lt;tool_call&gt;{"name", "arguments"}&lt;/tool_call&gt;</c> (Hermes, Qwen 2.5/3).</summary>
    Hermes,
    /// <summary><c>[TOOL_CALLS][{"name", "arguments", "id"}]</c> (Mistral).</summary>
    Mistral,
    /// <summary>JSON <c>{"name", "parameters"}</c> (Llama 3.1–3.3).</summary>
    Llama3,
}

/// <summary>
/// Streams the text of an answer that may contain tool calls: text goes out as it comes, except from the point where a
/// call may begin (a call marker, or JSON at the very start), which is held until the call is complete and then goes out as
/// <see cref="FunctionCallContent"/> (or as text, if it was not a call after all).
/// </summary>
internal sealed class ToolCallStreamer(IReadOnlySet<string> names, bool holdAll)
{
    private static readonly string[] s_markers = ["<tool_call>", "[TOOL_CALLS]", "<|python_tag|>"];
    private readonly StringBuilder _buffer = new();
    private bool _emittedAny, _holdingJson = holdAll;

    /// <summary>Adds generated text; returns what may go out now (text and complete calls).</summary>
    public List<AIContent> Push(string text)
    {
        var output = new List<AIContent>();
        _buffer.Append(text);
        while (true)
        {
            if (_holdingJson || _buffer.Length == 0) return output;
            string b = _buffer.ToString();
            if (!_emittedAny)
            {
                string start = b.TrimStart();
                if (start.Length == 0) return output;
                if (start[0] is '{' or '[' || "```".StartsWith(start.Length >= 3 ? start[..3] : start, StringComparison.Ordinal))
                {
                    _holdingJson = true;
                    return output;
                }
            }
            // A complete Hermes block goes out as soon as it closes.
            int open = b.IndexOf("<tool_call>", StringComparison.Ordinal);
            if (open >= 0)
            {
                int close = b.IndexOf("</tool_call>", open, StringComparison.Ordinal);
                if (close < 0) { Emit(output, b[..open]); Keep(b[open..]); return output; }
                int end = close + "</tool_call>".Length;
                var (rest, calls) = ToolCalling.Parse(b[open..end], names);
                Emit(output, b[..open]);
                if (calls.Count > 0) { output.AddRange(calls); _emittedAny = true; }
                else Emit(output, rest);
                Keep(b[end..]);
                continue;
            }
            int marker = FirstMarker(b, out bool complete);
            if (marker < 0) { Emit(output, b); _buffer.Clear(); return output; }
            Emit(output, b[..marker]);
            Keep(b[marker..]);
            if (complete) _holdingJson = true; // Mistral / python_tag: the rest of the output is the call
            return output;
        }
    }

    /// <summary>The end of generation: whatever was held, as calls or text.</summary>
    public List<AIContent> Finish()
    {
        var output = new List<AIContent>();
        string b = _buffer.ToString();
        _buffer.Clear();
        if (b.Length == 0) return output;
        var (text, calls) = ToolCalling.Parse(b, names);
        if (calls.Count == 0) { Emit(output, b); return output; }
        Emit(output, text);
        output.AddRange(calls);
        return output;
    }

    private void Emit(List<AIContent> output, string text)
    {
        if (text.Length == 0) return;
        output.Add(new TextContent(text));
        _emittedAny = true;
    }

    private void Keep(string text)
    {
        _buffer.Clear();
        _buffer.Append(text);
    }

    /// <summary>Where the first call marker (or the start of one, at the end of the text) is; -1 when none.</summary>
    private static int FirstMarker(string b, out bool complete)
    {
        complete = false;
        int best = -1;
        foreach (var m in s_markers)
        {
            int i = b.IndexOf(m, StringComparison.Ordinal);
            if (i >= 0 && (best < 0 || i < best)) { best = i; complete = true; }
        }
        if (best >= 0) return best;
        foreach (var m in s_markers)
            for (int len = Math.Min(m.Length - 1, b.Length); len > 0; len--)
                if (string.CompareOrdinal(b, b.Length - len, m, 0, len) == 0)
                {
                    int i = b.Length - len;
                    if (best < 0 || i < best) best = i;
                    break;
                }
        return best;
    }
}
