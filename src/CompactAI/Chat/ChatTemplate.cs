using CompactAI.Chat.Jinja;
using CompactAI.Gguf;

namespace CompactAI.Chat;

/// <summary>
/// A model's chat template: the Jinja program (from <c>tokenizer.chat_template</c>) that turns a conversation into the
/// exact prompt text the model was trained on, rendered the way Hugging Face transformers' <c>apply_chat_template</c> does
/// (<c>trim_blocks</c>, <c>lstrip_blocks</c>, Python value semantics, <c>raise_exception</c>, <c>strftime_now</c>).
/// </summary>
/// <remarks>
/// <para>A file without a template gets a built-in fallback chosen from its architecture, name and vocabulary
/// (<see cref="ChooseBuiltIn"/>); <see cref="IsFallback"/> tells which happened.</para>
/// <para>Parsing happens once, when the template is created; rendering is thread-safe (each call has its own state) and
/// bounded by <see cref="ChatTemplateOptions"/>. Any failure throws <see cref="ChatTemplateException"/> and never yields a partial prompt.</para>
/// </remarks>
public sealed class ChatTemplate
{
    /// <summary>The GGUF metadata key of the default template; named variants live at <c>tokenizer.chat_template.&lt;name&gt;</c>.</summary>
    public const string MetadataKey = "tokenizer.chat_template";

    private readonly JinjaTemplate _template;
    private readonly ChatTemplateOptions _options;
    private readonly IReadOnlyDictionary<string, string> _specialTokens;

    private ChatTemplate(string source, string? name, BuiltInChatTemplate? builtIn, bool isFallback, IReadOnlyDictionary<string, string> specialTokens,
        ChatTemplateOptions? options)
    {
        _options = options ?? new ChatTemplateOptions();
        if (_options.MaxOutputLength is <= 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxOutputLength must be positive");
        if (_options.MaxRecursionDepth is <= 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxRecursionDepth must be positive");
        if (_options.MaxSteps is <= 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxSteps must be positive");
        _template = JinjaTemplate.Parse(source, _options.MaxRecursionDepthOrDefault);
        Source = source;
        Name = name;
        BuiltIn = builtIn;
        IsFallback = isFallback;
        _specialTokens = specialTokens;
    }

    /// <summary>The Jinja source.</summary>
    public string Source { get; }

    /// <summary>The variant name (<c>tool_use</c>, ...) when the template came from <c>tokenizer.chat_template.&lt;name&gt;</c>; null for the default one.</summary>
    public string? Name { get; }

    /// <summary>The built-in format this template is, when it is one.</summary>
    public BuiltInChatTemplate? BuiltIn { get; }

    /// <summary>True when the model file had no template and a built-in fallback was chosen for it.</summary>
    public bool IsFallback { get; }

    /// <summary>The text of the beginning-of-sequence token the template sees as <c>bos_token</c> (empty when unknown).</summary>
    public string BosToken => _specialTokens.GetValueOrDefault("bos_token", "");

    /// <summary>The text of the end-of-sequence token the template sees as <c>eos_token</c> (empty when unknown).</summary>
    public string EosToken => _specialTokens.GetValueOrDefault("eos_token", "");

    /// <summary>Parses a template from its Jinja source.</summary>
    /// <param name="source">The template, e.g. the <c>chat_template</c> of a tokenizer_config.json.</param>
    /// <param name="bosToken">What <c>bos_token</c> expands to.</param>
    /// <param name="eosToken">What <c>eos_token</c> expands to.</param>
    /// <param name="options">Clock and limits; defaults when null.</param>
    /// <exception cref="ChatTemplateException">The source has a syntax error (the message gives its line and column).</exception>
    public static ChatTemplate Parse(string source, string bosToken = "", string eosToken = "", ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChatTemplate(source, null, null, false, Tokens(bosToken, eosToken), options);
    }

    /// <summary>One of the built-in formats.</summary>
    /// <param name="kind">The format.</param>
    /// <param name="bosToken">What <c>bos_token</c> expands to.</param>
    /// <param name="eosToken">What <c>eos_token</c> expands to.</param>
    /// <param name="options">Clock and limits; defaults when null.</param>
    public static ChatTemplate FromBuiltIn(BuiltInChatTemplate kind, string bosToken = "", string eosToken = "", ChatTemplateOptions? options = null) =>
        new(BuiltInChatTemplates.SourceOf(kind), null, kind, false, Tokens(bosToken, eosToken), options);

    /// <summary>The template of a GGUF model file (see <see cref="FromModelMetadata"/>).</summary>
    /// <param name="file">The model file.</param>
    /// <param name="name">A named variant (<c>tokenizer.chat_template.&lt;name&gt;</c>), or null for the default template.</param>
    /// <param name="options">Clock and limits; defaults when null.</param>
    public static ChatTemplate FromGguf(GgufFile file, string? name = null, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        return FromModelMetadata(file.Metadata, name, options);
    }

    /// <summary>
    /// The template stored in GGUF metadata at <c>tokenizer.chat_template</c> (or <c>tokenizer.chat_template.&lt;name&gt;</c>),
    /// with <c>bos_token</c> / <c>eos_token</c> read from <c>tokenizer.ggml.tokens</c> at <c>tokenizer.ggml.bos_token_id</c> /
    /// <c>eos_token_id</c>. Without a default template, a built-in fallback is chosen by <see cref="ChooseBuiltIn"/>.
    /// </summary>
    /// <param name="metadata">The model's metadata.</param>
    /// <param name="name">A named variant, or null for the default template.</param>
    /// <param name="options">Clock and limits; defaults when null.</param>
    /// <exception cref="ChatTemplateException">The named variant does not exist, or the template has a syntax error.</exception>
    public static ChatTemplate FromModelMetadata(GgufMetadata metadata, string? name = null, ChatTemplateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var tokens = SpecialTokens(metadata);
        string key = name is null ? MetadataKey : $"{MetadataKey}.{name}";
        if (metadata.ContainsKey(key)) return new ChatTemplate(metadata.GetString(key), name, null, false, tokens, options);
        if (name is not null)
        {
            var names = GetTemplateNames(metadata);
            throw new ChatTemplateException($"the model has no chat template named '{name}' (available: {(names.Count == 0 ? "none" : string.Join(", ", names))})");
        }
        var kind = ChooseBuiltIn(metadata);
        return new ChatTemplate(BuiltInChatTemplates.SourceOf(kind), null, kind, true, tokens, options);
    }

    /// <summary>The names of the variants stored as <c>tokenizer.chat_template.&lt;name&gt;</c> (e.g. <c>tool_use</c>, <c>rag</c>), in file order.</summary>
    /// <param name="metadata">The model's metadata.</param>
    public static IReadOnlyList<string> GetTemplateNames(GgufMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        string prefix = MetadataKey + ".";
        return metadata.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && k.Length > prefix.Length).Select(k => k[prefix.Length..]).ToList();
    }

    /// <summary>
    /// The built-in format for a model without a template: Gemma for <c>gemma*</c> architectures, Phi-3 for <c>phi3</c>,
    /// then by the special tokens in the vocabulary (<c>&lt;|im_start|&gt;</c> ChatML, <c>&lt;|start_header_id|&gt;</c> Llama 3,
    /// <c>&lt;start_of_turn&gt;</c> Gemma, <c>&lt;|assistant|&gt;</c>+<c>&lt;|end|&gt;</c> Phi-3), then by name (Llama 3, Zephyr/TinyLlama),
    /// and ChatML otherwise (as llama.cpp does).
    /// </summary>
    /// <param name="metadata">The model's metadata.</param>
    public static BuiltInChatTemplate ChooseBuiltIn(GgufMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        string arch = metadata.GetString("general.architecture", "") ?? "";
        string name = string.Join(' ', new[] { "general.name", "general.basename", "general.finetune" }
            .Select(k => metadata.TryGetValue(k, out var v) && v.Value is string s ? s : "")).ToLowerInvariant();
        // One pass over the vocabulary for the few marker tokens that identify a format.
        var vocabulary = new HashSet<string>(StringComparer.Ordinal);
        if (metadata.TryGetValue("tokenizer.ggml.tokens", out var t) && t.Value is string[] tokens)
        {
            foreach (var token in tokens)
                if (token is "<|im_start|>" or "<|start_header_id|>" or "<start_of_turn>" or "<|assistant|>" or "<|end|>") vocabulary.Add(token);
        }

        if (arch.StartsWith("gemma", StringComparison.Ordinal)) return BuiltInChatTemplate.Gemma;
        if (arch == "phi3") return BuiltInChatTemplate.Phi3;
        if (vocabulary.Contains("<|im_start|>")) return BuiltInChatTemplate.ChatML;
        if (vocabulary.Contains("<|start_header_id|>")) return BuiltInChatTemplate.Llama3;
        if (vocabulary.Contains("<start_of_turn>")) return BuiltInChatTemplate.Gemma;
        if (vocabulary.Contains("<|assistant|>") && vocabulary.Contains("<|end|>")) return BuiltInChatTemplate.Phi3;
        if (name.Contains("llama-3", StringComparison.Ordinal) || name.Contains("llama 3", StringComparison.Ordinal) || name.Contains("llama3", StringComparison.Ordinal))
            return BuiltInChatTemplate.Llama3;
        if (name.Contains("zephyr", StringComparison.Ordinal) || name.Contains("tinyllama", StringComparison.Ordinal)) return BuiltInChatTemplate.Zephyr;
        return BuiltInChatTemplate.ChatML;
    }

    /// <summary>
    /// Renders a conversation into the prompt text, with the variables transformers passes: <c>messages</c>,
    /// <c>add_generation_prompt</c>, <c>bos_token</c>, <c>eos_token</c> (and the other special tokens known), <c>tools</c> and
    /// <c>documents</c> (none), then <paramref name="extra"/> (e.g. <c>enable_thinking</c>, <c>tools</c>, <c>date_string</c>), which wins on conflicts.
    /// </summary>
    /// <param name="messages">The conversation, oldest first.</param>
    /// <param name="addGenerationPrompt">Whether to end with the header that opens the assistant's reply.</param>
    /// <param name="extra">More template variables: strings, numbers, booleans, null, lists, string-keyed dictionaries or <see cref="System.Text.Json.JsonElement"/>s.</param>
    /// <returns>The prompt text.</returns>
    /// <exception cref="ChatTemplateException">The template refused the conversation (<c>raise_exception</c>) or failed.</exception>
    public string Render(IReadOnlyList<ChatTurn> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = new List<object?>(messages.Count);
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i] ?? throw new ArgumentException($"message {i} is null", nameof(messages));
            if (m.Role is null || m.Content is null) throw new ArgumentException($"message {i} has a null role or content", nameof(messages));
            list.Add(new Dictionary<string, object?>(StringComparer.Ordinal) { ["role"] = m.Role, ["content"] = m.Content });
        }
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = list,
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        if (extra is not null)
            foreach (var (k, v) in extra) variables[k] = v;
        return Render(variables);
    }

    /// <summary>
    /// Renders with caller-supplied variables (for conversations richer than <see cref="ChatTurn"/>: tool calls,
    /// <c>reasoning_content</c>, multi-part content). The special tokens, <c>tools</c> and <c>documents</c> are added unless given.
    /// </summary>
    /// <param name="variables">The template variables, usually including <c>messages</c> and <c>add_generation_prompt</c>.</param>
    /// <returns>The prompt text.</returns>
    /// <exception cref="ChatTemplateException">The template refused the input (<c>raise_exception</c>) or failed.</exception>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var all = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (k, v) in _specialTokens) all[k] = v;
        all["tools"] = null;
        all["documents"] = null;
        foreach (var (k, v) in variables) all[k] = v;
        var converted = JinjaTemplate.ConvertVariables(all);
        try
        {
            return _template.Render(converted, _options.ClockOrDefault, _options.MaxOutputLengthOrDefault, _options.MaxRecursionDepthOrDefault, _options.MaxStepsOrDefault);
        }
        catch (Exception e) when (e is not (ChatTemplateException or OutOfMemoryException))
        {
            throw new ChatTemplateException($"rendering failed: {e.Message}", innerException: e);
        }
    }

    private static Dictionary<string, string> Tokens(string bosToken, string eosToken)
    {
        ArgumentNullException.ThrowIfNull(bosToken);
        ArgumentNullException.ThrowIfNull(eosToken);
        return new Dictionary<string, string>(StringComparer.Ordinal) { ["bos_token"] = bosToken, ["eos_token"] = eosToken };
    }

    private static Dictionary<string, string> SpecialTokens(GgufMetadata metadata)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal) { ["bos_token"] = "", ["eos_token"] = "" };
        if (!metadata.TryGetValue("tokenizer.ggml.tokens", out var t) || t.Value is not string[] tokens) return result;
        foreach (var (variable, key) in new[]
                 {
                     ("bos_token", "tokenizer.ggml.bos_token_id"), ("eos_token", "tokenizer.ggml.eos_token_id"),
                     ("unk_token", "tokenizer.ggml.unknown_token_id"), ("pad_token", "tokenizer.ggml.padding_token_id"),
                 })
        {
            if (!metadata.ContainsKey(key)) continue;
            long id = metadata.GetUInt32(key);
            if (id < tokens.Length) result[variable] = tokens[id];
        }
        return result;
    }
}
