using System.Collections.Frozen;
using System.Text;

namespace CompactAI.Tokenization.PreTokenizers;

/// <summary>
/// A byte-level BPE pre-tokenizer (<c>tokenizer.ggml.pre</c>): a sequence of regexes applied one after another, each
/// splitting the pieces the previous one produced (matches and the gaps between them both become pieces), exactly as
/// llama.cpp's <c>unicode_regex_split</c> applies the regex list <c>llama-vocab.cpp</c> gives for that name.
/// </summary>
/// <remarks>Instances are immutable and thread-safe.</remarks>
internal sealed class BpePreTokenizer
{
    // Written with escapes: several of these characters (U+1F7D, U+1FBE, U+2126, U+212A, ...) have canonical
    // singleton decompositions, and an editor or tool that normalizes text would silently change the ranges.
    private const string DeepseekLetters =
        "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377"
        + "\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5"
        + "\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D"
        + "\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4"
        + "\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D"
        + "\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4"
        + "\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06"
        + "\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB\U00010C80-\U00010CB2"
        + "\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-\U0001E943]+";

    private const string DeepseekPunctuation = "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+";

    private const string CjkHangul = "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+";

    /// <summary>(regexes, ignore merges, add BOS by default) per llama.cpp pre-tokenizer type.</summary>
    private static readonly (string[] Patterns, bool IgnoreMerges, bool AddBos) Default =
        ([@"[\p{P}\$\+<=>\^~\|]+", Gpt2SplitStep.Pattern, @"\p{N}+", "[0-9][0-9][0-9]"], false, false);
    private static readonly (string[], bool, bool) Gpt2 = ([Gpt2SplitStep.Pattern], false, false);
    private static readonly (string[], bool, bool) Llama3 = ([Llama3SplitStep.Llama3Pattern], true, true);
    private static readonly (string[], bool, bool) Llama3Regex = ([Llama3SplitStep.Llama3Pattern], false, false);
    private static readonly (string[], bool, bool) Qwen2 = ([Llama3SplitStep.Qwen2Pattern], false, false);
    private static readonly (string[], bool, bool) Starcoder = ([@"\p{N}", Gpt2SplitStep.Pattern], false, false);
    private static readonly (string[], bool, bool) DeepseekLlm =
        (["[\r\n]", DeepseekLetters, DeepseekPunctuation, "\\s+$", CjkHangul, @"\p{N}+"], false, false);
    private static readonly (string[], bool, bool) DeepseekCoder =
        (["[\r\n]", @"\s?\p{L}+", @"\s?\p{P}+", CjkHangul, @"\p{N}"], false, false);
    private static readonly (string[], bool, bool) Falcon =
        ([@"[\p{P}\$\+<=>\^~\|`]+", Gpt2SplitStep.Pattern, "[0-9][0-9][0-9]"], false, false);
    private static readonly (string[], bool, bool) Tekken =
        ([@"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"],
            true, true);

    private static readonly FrozenDictionary<string, (string[] Patterns, bool IgnoreMerges, bool AddBos)> Table =
        new Dictionary<string, (string[], bool, bool)>(StringComparer.Ordinal)
        {
            ["default"] = Default,
            ["gpt-2"] = Gpt2, ["phi-2"] = Gpt2, ["mpt"] = Gpt2, ["olmo"] = Gpt2,
            ["llama3"] = Llama3, ["llama-v3"] = Llama3, ["llama-bpe"] = Llama3, ["falcon3"] = Llama3, ["pixtral"] = Llama3,
            ["dbrx"] = Llama3Regex, ["smaug-bpe"] = Llama3Regex,
            ["qwen2"] = Qwen2, ["deepseek-r1-qwen"] = Qwen2, ["stablelm2"] = Qwen2,
            ["smollm"] = Starcoder, ["starcoder"] = Starcoder, ["refact"] = Starcoder, ["command-r"] = Starcoder,
            ["codeshell"] = Starcoder, ["exaone"] = Starcoder,
            ["deepseek-llm"] = DeepseekLlm,
            ["deepseek-coder"] = DeepseekCoder,
            ["falcon"] = Falcon,
            ["tekken"] = Tekken,
        }.ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, Lazy<BpePreTokenizer>> Instances =
        Table.ToFrozenDictionary(kv => kv.Key,
            kv => new Lazy<BpePreTokenizer>(() => new BpePreTokenizer(kv.Key, kv.Value.Patterns, kv.Value.IgnoreMerges, kv.Value.AddBos)),
            StringComparer.Ordinal);

    private readonly SplitStep[] _steps;

    private BpePreTokenizer(string name, string[] patterns, bool ignoreMerges, bool addBos)
    {
        Name = name;
        Patterns = patterns;
        IgnoreMerges = ignoreMerges;
        AddBosByDefault = addBos;
        _steps = new SplitStep[patterns.Length];
        for (int i = 0; i < patterns.Length; i++)
        {
            _steps[i] = patterns[i] switch
            {
                Gpt2SplitStep.Pattern => Gpt2SplitStep.Instance,
                Llama3SplitStep.Llama3Pattern => Llama3SplitStep.Llama3,
                Llama3SplitStep.Qwen2Pattern => Llama3SplitStep.Qwen2,
                _ => new RegexSplitStep(patterns[i]),
            };
        }
    }

    /// <summary>The supported <c>tokenizer.ggml.pre</c> values, sorted.</summary>
    public static IReadOnlyList<string> SupportedNames { get; } = [.. Table.Keys.Order(StringComparer.Ordinal)];

    /// <summary>The <c>tokenizer.ggml.pre</c> value.</summary>
    public string Name { get; }

    /// <summary>The regexes as llama.cpp lists them, in the order they are applied.</summary>
    public IReadOnlyList<string> Patterns { get; }

    /// <summary>Whether a pre-token that is itself a vocabulary token is emitted whole, without BPE merges (llama.cpp's <c>ignore_merges</c>).</summary>
    public bool IgnoreMerges { get; }

    /// <summary>Whether BOS is added when <c>tokenizer.ggml.add_bos_token</c> is absent.</summary>
    public bool AddBosByDefault { get; }

    /// <summary>The pre-tokenizer for a <c>tokenizer.ggml.pre</c> value; <see langword="null"/> means <c>default</c>.</summary>
    /// <exception cref="NotSupportedException">The name is not supported; the message lists the supported ones.</exception>
    public static BpePreTokenizer Get(string? name)
    {
        name ??= "default";
        if (Instances.TryGetValue(name, out var pre)) return pre.Value;
        throw new NotSupportedException(
            $"BPE pre-tokenizer '{name}' (tokenizer.ggml.pre) is not supported. Supported: {string.Join(", ", SupportedNames)}.");
    }

    /// <summary>Splits <paramref name="text"/> (no lone surrogates) and appends each piece's (start, length) in chars.</summary>
    public void Split(ReadOnlySpan<char> text, List<(int Start, int Length)> pieces)
    {
        if (text.IsEmpty) return;
        var cps = new int[text.Length];
        int n = 0;
        foreach (var rune in text.EnumerateRunes()) cps[n++] = rune.Value;
        Array.Resize(ref cps, n);

        var split = new SplitText(cps);
        var current = new List<int>(n / 3 + 1) { n };
        var next = new List<int>(n / 3 + 1);
        foreach (var step in _steps)
        {
            next.Clear();
            step.Split(split, current, next);
            (current, next) = (next, current);
        }

        int cp = 0, ch = 0;
        foreach (int length in current)
        {
            int start = ch;
            for (int k = 0; k < length; k++) ch += cps[cp++] > 0xFFFF ? 2 : 1;
            pieces.Add((start, ch - start));
        }
    }

    /// <summary>Splits <paramref name="text"/> into its pieces (for tests and diagnostics).</summary>
    public List<string> Split(string text)
    {
        var ranges = new List<(int Start, int Length)>();
        Split(text.AsSpan(), ranges);
        return ranges.ConvertAll(r => text.Substring(r.Start, r.Length));
    }
}
