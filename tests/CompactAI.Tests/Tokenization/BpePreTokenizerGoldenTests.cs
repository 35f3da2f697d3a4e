using System.Text;
using System.Text.Json;
using CompactAI.Gguf;
using CompactAI.Tokenization;
using CompactAI.Tokenization.PreTokenizers;

namespace CompactAI.Tests.Tokenization;

/// <summary>
/// Writes the GPT-2 vocabulary once per pre-tokenizer (plus once without <c>tokenizer.ggml.pre</c>) and checks every
/// corpus text of <c>Goldens/bpe-pretokenizers.json</c> against llama.cpp's ids.
/// </summary>
public sealed class BpeVocabFixture : IDisposable
{
    private readonly bool _keep;
    private readonly Dictionary<string, Lazy<BpeTokenizer>> _tokenizers = new(StringComparer.Ordinal);

    public BpeVocabFixture()
    {
        _keep = !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("COMPACTAI_BPE_VOCAB_DIR"));
        Directory = BpeVocabFiles.CreateDirectory();
        foreach (string name in VocabularyNames)
        {
            bool extended = name.EndsWith(BpeVocabFiles.ExtendedSuffix, StringComparison.Ordinal);
            string path = BpeVocabFiles.Write(Directory, extended ? name[..^BpeVocabFiles.ExtendedSuffix.Length] : name, extended);
            _tokenizers[name] = new Lazy<BpeTokenizer>(() =>
            {
                using var file = GgufFile.Open(path);
                return BpeTokenizer.FromGguf(file);
            });
        }
        // The regex lists, for Goldens/reference/dump-bpe-pretokens.cpp (see Goldens/README-bpe.md).
        // One entry per distinct list, named after the first pre-tokenizer (in sorted order) that uses it.
        var patterns = BpeTokenizer.SupportedPreTokenizers
            .GroupBy(p => string.Join("\n", BpePreTokenizer.Get(p).Patterns), StringComparer.Ordinal)
            .ToDictionary(g => g.First(), g => BpePreTokenizer.Get(g.First()).Patterns);
        File.WriteAllText(Path.Combine(Directory, "patterns.json"), JsonSerializer.Serialize(patterns));
    }

    /// <summary>
    /// The vocabularies: GPT-2 with each supported pre-tokenizer, without the key (<see cref="BpeVocabFiles.MissingPre"/>),
    /// and GPT-2 plus <see cref="BpeVocabFiles.ExtraTokens"/> for a few pre-tokenizers (with and without ignore_merges).
    /// </summary>
    public static IEnumerable<string> VocabularyNames =>
        BpeTokenizer.SupportedPreTokenizers.Append(BpeVocabFiles.MissingPre)
            .Concat(((string[])["gpt-2", "llama3", "dbrx", "tekken"]).Select(p => p + BpeVocabFiles.ExtendedSuffix));

    public string Directory { get; }

    public BpeTokenizer Get(string name) => _tokenizers[name].Value;

    public void Dispose()
    {
        if (!_keep)
        {
            try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}

public sealed class BpePreTokenizerGoldenTests(BpeVocabFixture vocabs) : IClassFixture<BpeVocabFixture>
{
    private const string GoldenName = "bpe-pretokenizers.json";

    private const string PreTokenGoldenName = "bpe-pretokens.json";

    private static readonly Lazy<Golden> Goldens = new(LoadGolden);

    private static readonly Lazy<Dictionary<string, (string[] Patterns, string[][] Pieces)>> PreTokenGoldens = new(() =>
    {
        using var doc = GoldenFiles.Load(PreTokenGoldenName);
        var result = new Dictionary<string, (string[], string[][])>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.GetProperty("pre").EnumerateObject())
        {
            result[p.Name] = (
                p.Value.GetProperty("patterns").EnumerateArray().Select(e => e.GetString()!).ToArray(),
                p.Value.GetProperty("pieces").EnumerateArray().Select(a => a.EnumerateArray().Select(e => e.GetString()!).ToArray()).ToArray());
        }
        return result;
    });

    private sealed record Golden(string[] Corpus, Dictionary<string, int[][]> Pre, Dictionary<string, bool> AddBos,
        Dictionary<string, int[]> Eog, Dictionary<string, (string Text, int[] Ids)[]> Special);

    private static Golden LoadGolden()
    {
        using var doc = GoldenFiles.Load(GoldenName);
        var root = doc.RootElement;
        string[] corpus = root.GetProperty("corpus").EnumerateArray().Select(e => e.GetString()!).ToArray();
        var pre = new Dictionary<string, int[][]>(StringComparer.Ordinal);
        foreach (var p in root.GetProperty("pre").EnumerateObject())
            pre[p.Name] = p.Value.EnumerateArray().Select(a => a.EnumerateArray().Select(e => e.GetInt32()).ToArray()).ToArray();
        var addBos = root.GetProperty("add_bos").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetBoolean(), StringComparer.Ordinal);
        var eog = root.GetProperty("eog").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(e => e.GetInt32()).ToArray(), StringComparer.Ordinal);
        var special = root.GetProperty("special").EnumerateObject().ToDictionary(
            p => p.Name,
            p => p.Value.EnumerateArray()
                .Select(e => (e.GetProperty("text").GetString()!, e.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()))
                .ToArray(),
            StringComparer.Ordinal);
        return new Golden(corpus, pre, addBos, eog, special);
    }

    public static TheoryData<string> PreTokenizers()
    {
        var data = new TheoryData<string>();
        foreach (string pre in BpeTokenizer.SupportedPreTokenizers) data.Add(pre);
        return data;
    }

    public static TheoryData<string> Vocabularies()
    {
        var data = new TheoryData<string>();
        foreach (string name in BpeVocabFixture.VocabularyNames) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void EncodesTheCorpusLikeLlamaCpp(string pre)
    {
        var golden = Goldens.Value;
        Assert.True(golden.Pre.ContainsKey(pre), $"{GoldenName} has no ids for pre-tokenizer '{pre}': regenerate it (Goldens/README-bpe.md).");
        var tokenizer = vocabs.Get(pre);
        var expected = golden.Pre[pre];
        Assert.Equal(golden.Corpus.Length, expected.Length);
        var failures = new StringBuilder();
        int passed = 0;
        for (int i = 0; i < golden.Corpus.Length; i++)
        {
            var ids = tokenizer.Encode(golden.Corpus[i], addSpecial: false, parseSpecial: false);
            if (ids.SequenceEqual(expected[i]))
            {
                passed++;
                continue;
            }
            failures.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"case {i} {JsonSerializer.Serialize(golden.Corpus[i])}:\n  llama.cpp [{string.Join(' ', expected[i])}]\n  ours      [{string.Join(' ', ids)}]\n  pieces    {JsonSerializer.Serialize(tokenizer.PreTokenize(golden.Corpus[i]))}\n");
        }
        Assert.True(failures.Length == 0, $"{pre}: {passed}/{golden.Corpus.Length} cases match llama.cpp\n{failures}");
    }

    [Theory]
    [MemberData(nameof(PreTokenizers))]
    public void SplitsTheCorpusIntoTheSamePreTokensAsLlamaCpp(string pre)
    {
        var golden = PreTokenGoldens.Value;
        var preTokenizer = BpePreTokenizer.Get(pre);
        var entry = golden.Values.FirstOrDefault(e => e.Patterns.SequenceEqual(preTokenizer.Patterns, StringComparer.Ordinal));
        Assert.True(entry.Pieces is not null, $"{PreTokenGoldenName} has no pieces for the regexes of '{pre}': regenerate it (Goldens/README-bpe.md).");
        string[] corpus = Goldens.Value.Corpus;
        Assert.Equal(corpus.Length, entry.Pieces.Length);
        var failures = new StringBuilder();
        int passed = 0;
        for (int i = 0; i < corpus.Length; i++)
        {
            var pieces = preTokenizer.Split(corpus[i]);
            if (pieces.SequenceEqual(entry.Pieces[i], StringComparer.Ordinal))
            {
                passed++;
                continue;
            }
            failures.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"case {i} {JsonSerializer.Serialize(corpus[i])}:\n  llama.cpp {JsonSerializer.Serialize(entry.Pieces[i])}\n  ours      {JsonSerializer.Serialize(pieces)}\n");
        }
        Assert.True(failures.Length == 0, $"{pre}: {passed}/{corpus.Length} cases split like llama.cpp\n{failures}");
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void AddBosDefaultsLikeLlamaCpp(string pre)
    {
        Assert.Equal(Goldens.Value.AddBos[pre], vocabs.Get(pre).AddBos);
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void DecodeOfEncodeGivesTheTextBack(string pre)
    {
        var tokenizer = vocabs.Get(pre);
        foreach (string text in Goldens.Value.Corpus)
            Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text, addSpecial: false)));
    }

    [Fact]
    public void MissingPreIsTheDefaultPreTokenizer()
    {
        Assert.Equal("default", vocabs.Get(BpeVocabFiles.MissingPre).PreTokenizer);
        Assert.Equal(Goldens.Value.Pre["default"], Goldens.Value.Pre[BpeVocabFiles.MissingPre]);
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void EndOfGenerationTokensAreLlamaCpps(string name)
    {
        var tokenizer = vocabs.Get(name);
        var ours = Enumerable.Range(0, tokenizer.VocabularySize).Where(tokenizer.IsEndOfGeneration).ToArray();
        Assert.Equal(Goldens.Value.Eog[name], ours);
    }

    [Theory]
    [InlineData("gpt-2")]
    [InlineData("gpt-2" + BpeVocabFiles.ExtendedSuffix)]
    public void ParseSpecialSplitsOffControlTokensLikeLlamaCpp(string name)
    {
        var tokenizer = vocabs.Get(name);
        foreach (var (text, ids) in Goldens.Value.Special[name])
            Assert.Equal(ids, tokenizer.Encode(text, addSpecial: false, parseSpecial: true));
    }

    [Fact]
    public void ExtendedVocabularyTokenTypes()
    {
        var tokenizer = vocabs.Get("llama3" + BpeVocabFiles.ExtendedSuffix);
        int first = tokenizer.VocabularySize - BpeVocabFiles.ExtraTokens.Length;
        for (int i = 0; i < BpeVocabFiles.ExtraTokens.Length; i++)
            Assert.Equal((TokenType)BpeVocabFiles.ExtraTokens[i].Type, tokenizer.GetTokenType(first + i));
        // User-defined tokens render verbatim; control tokens only with renderSpecial.
        Assert.Equal("<tool_call>", tokenizer.Decode([first + 4]));
        Assert.Equal("", tokenizer.Decode([first + 5]));
        Assert.Equal("<|im_start|>", tokenizer.Decode([first + 5], renderSpecial: true));
        Assert.Equal(" XMLHttpRequest", tokenizer.Decode([first + 2]));
    }

    [Fact]
    public void UnknownPreTokenizerIsRejectedWithTheSupportedList()
    {
        string dir = Path.Combine(Path.GetTempPath(), "compactai-bpe-unknown-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        NotSupportedException e;
        try
        {
            using var file = GgufFile.Open(BpeVocabFiles.Write(dir, "no-such-pre"));
            e = Assert.Throws<NotSupportedException>(() => ModelTokenizer.FromGguf(file));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
        Assert.Contains("'no-such-pre'", e.Message, StringComparison.Ordinal);
        foreach (string pre in (string[])["default", "gpt-2", "llama-bpe", "llama3", "qwen2", "smollm", "deepseek-llm",
                     "deepseek-coder", "falcon", "starcoder", "refact", "mpt", "tekken"])
        {
            Assert.Contains(pre, BpeTokenizer.SupportedPreTokenizers);
            Assert.Contains(pre, e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void StreamingDecoderNeverEmitsReplacementCharacters()
    {
        var tokenizer = vocabs.Get("llama-bpe");
        foreach (string text in Goldens.Value.Corpus.Where(t => t.Any(c => c > 0x7F)))
        {
            var ids = tokenizer.Encode(text, addSpecial: false);
            var stream = tokenizer.CreateStreamingDecoder();
            var sb = new StringBuilder();
            foreach (int id in ids)
            {
                string piece = stream.Add(id);
                Assert.DoesNotContain('\uFFFD', piece);
                if (piece.Length > 0) Assert.False(char.IsHighSurrogate(piece[^1]), "piece ends inside a surrogate pair");
                sb.Append(piece);
            }
            Assert.Equal("", stream.Flush());
            Assert.Equal(text, sb.ToString());
        }
    }
}
