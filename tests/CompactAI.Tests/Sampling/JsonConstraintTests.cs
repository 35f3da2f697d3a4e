using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CompactAI.Chat;
using CompactAI.Gguf;
using CompactAI.Inference;
using CompactAI.Sampling;
using CompactAI.Sampling.Constraints;
using CompactAI.Tokenization;
using Microsoft.Extensions.AI;
using Xunit.Abstractions;

namespace CompactAI.Tests.Constraints;

/// <summary>The JSON automaton against System.Text.Json, schema cases, and constrained generation on stories260K.</summary>
public sealed class JsonConstraintTests : IClassFixture<Stories260KFixture>
{
    internal const string PersonSchema =
        """{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}""";

    private static readonly Lazy<BpeTokenizer> s_gpt2 = new(() =>
    {
        using var file = GgufFile.Open(TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf"));
        return BpeTokenizer.FromGguf(file);
    });

    private readonly CompactModel _model;
    private readonly ITestOutputHelper _output;

    public JsonConstraintTests(Stories260KFixture fixture, ITestOutputHelper output)
    {
        _model = fixture.Model;
        _output = output;
    }

    internal static BpeTokenizer Gpt2 => s_gpt2.Value;

    // ---- the automaton against System.Text.Json ------------------------------------------------------------------

    private static bool SystemTextJsonAccepts(byte[] utf8)
    {
        try
        {
            using var _ = JsonDocument.Parse(utf8);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Feeds <paramref name="utf8"/> in random chunks (1–8 bytes, like tokens), each tried on a copy first as the mask does.</summary>
    private static bool AutomatonAccepts(JsonConstraint constraint, byte[] utf8, Random random)
    {
        var state = constraint.CreateAutomaton();
        var trial = default(JsonAutomaton);
        for (int i = 0; i < utf8.Length;)
        {
            int n = Math.Min(utf8.Length - i, random.Next(1, 9));
            trial.CopyFrom(ref state);
            if (!trial.Feed(utf8.AsSpan(i, n))) return false;
            state.CopyFrom(ref trial);
            i += n;
        }
        return state.IsComplete;
    }

    [Theory]
    [InlineData("{}", true)]
    [InlineData("[]", true)]
    [InlineData(" \t\r\n{ \"a\" : [ 1 , -0.5e+10 , 2E-3, 0, -0, 1.25 ] } \n", true)]
    [InlineData("-0.5e+10", true)]
    [InlineData("\"\\u00e9\\uD83D\\uDE00\\n\\\"\\\\\\/\\b\\f\\r\\t\"", true)]
    [InlineData("\"é中😀\"", true)]
    [InlineData("{\"a\":{\"b\":[true,false,null,\"x\"]}}", true)]
    [InlineData("01", false)]
    [InlineData("1.", false)]
    [InlineData(".5", false)]
    [InlineData("-", false)]
    [InlineData("1e", false)]
    [InlineData("+1", false)]
    [InlineData("[1,]", false)]
    [InlineData("{\"a\":1,}", false)]
    [InlineData("{\"a\" 1}", false)]
    [InlineData("{a:1}", false)]
    [InlineData("tru", false)]
    [InlineData("nul", false)]
    [InlineData("\"\t\"", false)]
    [InlineData("\"\\x\"", false)]
    [InlineData("\"\\u12G4\"", false)]
    [InlineData("1 2", false)]
    [InlineData("", false)]
    [InlineData("   ", false)]
    [InlineData("[1]]", false)]
    [InlineData("\"abc", false)]
    public void KnownDocumentsAreJudgedLikeSystemTextJson(string json, bool valid)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        Assert.Equal(valid, SystemTextJsonAccepts(bytes));
        for (int seed = 0; seed < 5; seed++)
            Assert.Equal(valid, AutomatonAccepts(JsonConstraint.AnyValue, bytes, new Random(seed)));
    }

    [Fact]
    public void AGeneratedCorpusIsAcceptedExactlyWhenSystemTextJsonAcceptsIt()
    {
        var random = new Random(20261124);
        int valid = 0, invalid = 0;
        for (int i = 0; i < 3000; i++)
        {
            var sb = new StringBuilder();
            JsonCorpus.Whitespace(random, sb);
            JsonCorpus.Value(random, sb, 0);
            JsonCorpus.Whitespace(random, sb);
            string doc = i % 2 == 0 ? sb.ToString() : JsonCorpus.Mutate(random, sb.ToString());
            var bytes = Encoding.UTF8.GetBytes(doc);
            bool expected = SystemTextJsonAccepts(bytes);
            if (expected) valid++; else invalid++;
            Assert.True(expected == AutomatonAccepts(JsonConstraint.AnyValue, bytes, random), $"System.Text.Json says {expected} for: {doc}");
        }
        Assert.True(valid > 1000 && invalid > 500, $"{valid} valid and {invalid} invalid documents");
    }

    [Theory]
    [InlineData(new byte[] { 0x22, 0xC3, 0x22 })]             // truncated 2-byte sequence
    [InlineData(new byte[] { 0x22, 0x80, 0x22 })]             // lone continuation byte
    [InlineData(new byte[] { 0x22, 0xC0, 0xAF, 0x22 })]       // overlong '/'
    [InlineData(new byte[] { 0x22, 0xED, 0xA0, 0x80, 0x22 })] // an encoded surrogate
    [InlineData(new byte[] { 0x22, 0xF5, 0x80, 0x80, 0x80, 0x22 })]
    public void InvalidUtf8InStringsIsRejected(byte[] bytes)
    {
        Assert.False(AutomatonAccepts(JsonConstraint.AnyValue, bytes, new Random(1)));
    }

    [Fact]
    public void MultiByteCharactersAreAcceptedAcrossChunkBoundaries()
    {
        var bytes = Encoding.UTF8.GetBytes("[\"😀é中\"]");
        var state = JsonConstraint.AnyValue.CreateAutomaton();
        foreach (byte b in bytes) Assert.True(state.Step(b));
        Assert.True(state.IsComplete);
    }

    [Fact]
    public void WhitespaceRunsAreLimitedSoAModelCannotLoopOnSpaces()
    {
        var state = JsonConstraint.AnyValue.CreateAutomaton();
        for (int i = 0; i < JsonAutomaton.MaxWhitespaceRun; i++) Assert.True(state.Step((byte)' '));
        Assert.False(state.Step((byte)' '));
    }

    [Fact]
    public void NestingIsLimited()
    {
        var state = JsonConstraint.AnyValue.CreateAutomaton();
        for (int i = 0; i < JsonAutomaton.MaxNesting; i++) Assert.True(state.Step((byte)'['));
        Assert.False(state.Step((byte)'['));
    }

    // ---- schemas -------------------------------------------------------------------------------------------------

    /// <summary>A schema of <paramref name="depth"/> nested <c>items</c> subschemas, parsed with a reader allowing that depth.</summary>
    private static JsonDocument NestedItemsSchema(int depth) =>
        JsonDocument.Parse(string.Concat(Enumerable.Repeat("""{"items":""", depth - 1)) + "{}" + new string('}', depth - 1),
            new JsonDocumentOptions { MaxDepth = depth + 1 });

    [Fact]
    public void ADeepSchemaElementIsRefusedWithATypedExceptionInsteadOfOverflowingTheStack()
    {
        // Regression: 20,000 levels built in memory used to recurse once per level and kill the process.
        using var deep = NestedItemsSchema(20_000);
        var e = Assert.Throws<NotSupportedException>(() => JsonConstraint.FromSchema(deep.RootElement));
        Assert.Contains("64 levels", e.Message);
        using var limit = NestedItemsSchema(JsonSchemaSet.MaxDepth);
        _ = JsonConstraint.FromSchema(limit.RootElement);
        using var over = NestedItemsSchema(JsonSchemaSet.MaxDepth + 1);
        Assert.Throws<NotSupportedException>(() => JsonConstraint.FromSchema(over.RootElement));
    }

    [Theory]
    [InlineData(PersonSchema, """{"name":"Bob","age":3}""", true)]
    [InlineData(PersonSchema, """ { "age" : -12 , "name" : "Bob" } """, true)]
    [InlineData(PersonSchema, """{"name":"abcdefghijkl","age":0}""", true)]
    [InlineData(PersonSchema, """{"name":"abcdefghijklm","age":0}""", false)]
    [InlineData(PersonSchema, """{"name":"Bob"}""", false)]
    [InlineData(PersonSchema, """{"name":"Bob","age":3,"x":1}""", false)]
    [InlineData(PersonSchema, """{"name":"Bob","age":"3"}""", false)]
    [InlineData(PersonSchema, """{"name":"Bob","age":1.5}""", false)]
    [InlineData(PersonSchema, """{"name":"Bob","name":"Al","age":1}""", false)]
    [InlineData(PersonSchema, """{"nam":"Bob","age":1}""", false)]
    [InlineData(PersonSchema, """[]""", false)]
    [InlineData("""{"enum":["red","green",1,null,{"a":[1]}]}""", "\"red\"", true)]
    [InlineData("""{"enum":["red","green",1,null,{"a":[1]}]}""", "1", true)]
    [InlineData("""{"enum":["red","green",1,null,{"a":[1]}]}""", "null", true)]
    [InlineData("""{"enum":["red","green",1,null,{"a":[1]}]}""", """{"a":[1]}""", true)]
    [InlineData("""{"enum":["red","green",1,null,{"a":[1]}]}""", "\"blue\"", false)]
    [InlineData("""{"enum":["red","green",1,null,{"a":[1]}]}""", "12", false)]
    [InlineData("""{"enum":["red","green",1,null,{"a":[1]}]}""", "true", false)]
    [InlineData("""{"const":"x"}""", "\"x\"", true)]
    [InlineData("""{"const":"x"}""", "\"y\"", false)]
    [InlineData("""{"type":["string","null"]}""", "null", true)]
    [InlineData("""{"type":["string","null"]}""", "\"s\"", true)]
    [InlineData("""{"type":["string","null"]}""", "0", false)]
    [InlineData("""{"type":"boolean"}""", "false", true)]
    [InlineData("""{"type":"boolean"}""", "\"false\"", false)]
    [InlineData("""{"type":"number"}""", "-0.5e+10", true)]
    [InlineData("""{"type":"integer"}""", "-0.5e+10", false)]
    [InlineData("""{"type":"string","minLength":2,"maxLength":3}""", "\"é中\"", true)]
    [InlineData("""{"type":"string","minLength":2,"maxLength":3}""", "\"\\u00e9\\n\\t\"", true)]
    [InlineData("""{"type":"string","minLength":2,"maxLength":3}""", "\"a\"", false)]
    [InlineData("""{"type":"string","minLength":2,"maxLength":3}""", "\"abcd\"", false)]
    [InlineData(ArraySchema, "[1]", true)]
    [InlineData(ArraySchema, "[-5, 120, 0]", true)]
    [InlineData(ArraySchema, "[]", false)]
    [InlineData(ArraySchema, "[1,2,3,4]", false)]
    [InlineData(ArraySchema, "[121]", false)]
    [InlineData(ArraySchema, "[-6]", false)]
    [InlineData(ArraySchema, "[1.0]", false)]
    [InlineData(ArraySchema, "[\"1\"]", false)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}""", """{"b":"x","a":1}""", true)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}""", """{"b":1}""", false)]
    [InlineData("""{"type":"object","properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}}""", """{"a":"x"}""", false)]
    [InlineData("""{"type":"object","title":"t","description":"d"}""", """{"any":[1,{"x":null}]}""", true)]
    public void SchemasAcceptAndRejectCorrectly(string schema, string json, bool valid)
    {
        var constraint = JsonConstraint.FromSchema(schema);
        Assert.Equal(valid, AutomatonAccepts(constraint, Encoding.UTF8.GetBytes(json), new Random(json.Length)));
    }

    private const string ArraySchema = """{"type":"array","items":{"type":"integer","minimum":-5,"maximum":120},"minItems":1,"maxItems":3}""";

    [Theory]
    [InlineData("""{"type":"integer","minimum":10,"maximum":20}""", "3")]   // 3, 30…: no completion lies in [10, 20]
    [InlineData("""{"type":"integer","minimum":10,"maximum":20}""", "-")]
    [InlineData("""{"type":"integer","minimum":10,"maximum":20}""", "0")]
    [InlineData("""{"type":"object","properties":{"a":{}},"additionalProperties":false}""", """{"a":1,""")]
    [InlineData(PersonSchema, """{"x""")]
    [InlineData(PersonSchema, """{"name":"Bob","age":1}  """)] // closed: whitespace is valid JSON but the mask offers only the end
    public void DeadEndsAreRejectedAtTheFirstByteThatCausesThem(string schema, string prefix)
    {
        var state = JsonConstraint.FromSchema(schema).CreateAutomaton();
        var bytes = Encoding.UTF8.GetBytes(prefix);
        bool ok = state.Feed(bytes.AsSpan(0, bytes.Length - 1));
        Assert.True(ok || prefix.EndsWith("  ", StringComparison.Ordinal));
        if (prefix.EndsWith("  ", StringComparison.Ordinal)) { Assert.True(state.IsClosed); return; }
        Assert.False(state.Step(bytes[^1]));
    }

    [Theory]
    [InlineData("""{"type":"string","pattern":"a+"}""", "pattern")]
    [InlineData("""{"oneOf":[{"type":"string"}]}""", "oneOf")]
    [InlineData("""{"type":"object","properties":{"a":{"$ref":"#/x"}}}""", "$ref")]
    [InlineData("""{"type":"number","minimum":0}""", "minimum")]
    [InlineData("""{"type":"array","items":[{"type":"string"}]}""", "items")]
    public void UnsupportedKeywordsThrowNamingThem(string schema, string keyword)
    {
        var e = Assert.Throws<NotSupportedException>(() => JsonConstraint.FromSchema(schema));
        Assert.Contains(keyword, e.Message);
    }

    // ---- the token mask ------------------------------------------------------------------------------------------

    [Fact]
    public void TheMaskAllowsExactlyTheTokensWhoseBytesKeepTheDocumentValid()
    {
        var tokenizer = Gpt2;
        var constraint = JsonConstraint.FromSchema(PersonSchema);
        var state = constraint.CreateState(tokenizer);
        var logits = new float[tokenizer.VocabularySize];
        var random = new Random(3);
        var prefix = new List<byte>();
        foreach (int next in tokenizer.Encode(" {\"name\": \"Bob\u00e9\", \"age\": 42", addSpecial: false))
        {
            Array.Fill(logits, 1f);
            Assert.True(state.ApplyMask(logits, int.MaxValue));
            // Every allowed token and a sample of the masked ones, against a fresh automaton fed the text so far plus the token.
            for (int id = 0; id < logits.Length; id++)
            {
                bool allowed = !float.IsNegativeInfinity(logits[id]);
                if (!allowed && random.Next(10) != 0) continue;
                bool expected;
                if (tokenizer.IsEndOfGeneration(id)) expected = state.IsComplete;
                else
                {
                    var bytes = new List<byte>(prefix);
                    tokenizer.AppendTokenBytes(id, bytes);
                    var probe = constraint.CreateAutomaton();
                    expected = bytes.Count > prefix.Count && probe.Feed(bytes.ToArray());
                }
                Assert.True(expected == allowed, $"token {id} '{tokenizer.GetTokenText(id)}' after '{Encoding.UTF8.GetString(prefix.ToArray())}'");
            }
            Assert.False(float.IsNegativeInfinity(logits[next]));
            state.Accept(next);
            tokenizer.AppendTokenBytes(next, prefix);
        }
        Assert.False(state.IsComplete);
        Array.Fill(logits, 1f);
        state.ApplyMask(logits, int.MaxValue);
        Assert.True(float.IsNegativeInfinity(logits[tokenizer.EosToken]));
        Assert.Throws<InvalidOperationException>(() => state.Accept(tokenizer.Encode("x", addSpecial: false)[0]));
        state.Accept(tokenizer.Encode("}", addSpecial: false)[0]);
        Assert.True(state.IsComplete);
        Assert.True(state.RequiresEnd);
        Array.Fill(logits, 1f);
        Assert.True(state.ApplyMask(logits, int.MaxValue));
        Assert.Equal(1, logits.Count(v => !float.IsNegativeInfinity(v)));
        Assert.Equal(1f, logits[tokenizer.EosToken]);
    }

    [Fact]
    public void MaskTimePerTokenOnTheGpt2Vocabulary()
    {
        var tokenizer = Gpt2;
        var logits = new float[tokenizer.VocabularySize];
        var cases = new (string Name, string Schema, string Prefix)[]
        {
            ("start", PersonSchema, ""),
            ("key", PersonSchema, "{\""),
            ("bounded string", PersonSchema, "{\"name\": \"Bo"),
            ("integer", PersonSchema, "{\"name\": \"Bob\", \"age\": 4"),
            ("free string (JSON mode)", """{"type":"object"}""", "{\"story\": \"Once upon"),
            ("between values (JSON mode)", """{"type":"object"}""", "{\"a\": [1, 2"),
        };
        foreach (var (name, schema, prefix) in cases)
        {
            var state = JsonConstraint.FromSchema(schema).CreateState(tokenizer);
            foreach (int id in tokenizer.Encode(prefix, addSpecial: false)) state.Accept(id);
            Array.Fill(logits, 0f);
            for (int i = 0; i < 30; i++) state.ApplyMask(logits, int.MaxValue);
            // The median of 31 timed masks (the machine is shared; the median ignores other tests' bursts).
            var times = new double[31];
            for (int i = 0; i < times.Length; i++)
            {
                long start = Stopwatch.GetTimestamp();
                state.ApplyMask(logits, int.MaxValue);
                times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            Array.Sort(times);
            double ms = times[times.Length / 2];
            int allowed = logits.Count(v => !float.IsNegativeInfinity(v));
            _output.WriteLine($"{name,-28} {ms,7:F3} ms per mask, {allowed} of {logits.Length} tokens allowed");
            Assert.True(allowed > 0);
            Assert.True(ms < 200, $"{name}: {ms:F1} ms per mask");
        }
    }

    // ---- generation on stories260K ---------------------------------------------------------------------------------

    public static TheoryData<int> Seeds => [-1, 1, 2, 3, 4, 5, 6, 7, 8];

    private static SamplingOptions Sampling(int seed) => seed < 0 ? SamplingOptions.Greedy : new SamplingOptions { Seed = (ulong)seed, Temperature = 1.0f };

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task JsonModeProducesAJsonObject(int seed)
    {
        // The model never closes an object on its own (it adds member after member); steering closes it in time.
        using var session = _model.CreateSession();
        var result = await session.GenerateTextAsync("Once upon a time",
            new GenerationOptions { MaxTokens = 200, Sampling = Sampling(seed), Constraint = JsonConstraint.AnyObject });
        _output.WriteLine($"{result.FinishReason} ({result.Tokens.Count} tokens): {result.Text}");
        Assert.Equal(FinishReason.EndOfSequence, result.FinishReason);
        AssertCompleteOrCut(result, doc => Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(3)]
    public async Task ATightTokenBudgetStillGivesAValidDocument(int seed)
    {
        // {"name":"","age":0} is 19 bytes; stories260K's vocabulary has a token for every byte.
        using var session = _model.CreateSession();
        var result = await session.GenerateTextAsync("Once upon a time",
            new GenerationOptions { MaxTokens = 24, Sampling = Sampling(seed), Constraint = JsonConstraint.FromSchema(PersonSchema) });
        _output.WriteLine($"{result.FinishReason} ({result.Tokens.Count} tokens): {result.Text}");
        Assert.Equal(FinishReason.EndOfSequence, result.FinishReason);
        Assert.True(result.Tokens.Count <= 24);
        using var doc = JsonDocument.Parse(result.Text);
        AssertPerson(doc);
    }

    [Fact]
    public void TheClosingDistanceIsExactlyReachableByteByByte()
    {
        // From prefixes of generated documents (JSON mode and a schema), some byte always lowers the distance by one,
        // and following such bytes completes the document in exactly that many bytes: what steering relies on.
        var random = new Random(77);
        var schemas = new[] { JsonConstraint.AnyValue, JsonConstraint.FromSchema(PersonSchema), JsonConstraint.FromSchema(ArraySchema) };
        var samples = new[] { "", "{\"name\": \"Bo", "{\"age\": 1", "{\"na", "[1, -", "[120", "{\"name\":\"\\u00", "{\"name\":\"\u00e9" };
        int checkedPrefixes = 0;
        for (int i = 0; i < 400; i++)
        {
            var constraint = schemas[i % schemas.Length];
            string text;
            if (i % schemas.Length == 0)
            {
                var sb = new StringBuilder();
                JsonCorpus.Value(random, sb, 0);
                text = sb.ToString();
            }
            else text = samples[random.Next(samples.Length)];
            var bytes = Encoding.UTF8.GetBytes(text);
            var state = constraint.CreateAutomaton();
            int cut = random.Next(bytes.Length + 1);
            if (!state.Feed(bytes.AsSpan(0, cut))) continue;
            checkedPrefixes++;
            int distance = state.MinClosingBytes();
            for (int step = distance; step > 0; step--)
            {
                bool moved = false;
                for (int b = 0; b < 256 && !moved; b++)
                {
                    var next = state;
                    if (next.Step((byte)b) && next.MinClosingBytes() == step - 1) { state = next; moved = true; }
                }
                Assert.True(moved, $"no byte lowers the distance {step} after '{text[..Math.Min(text.Length, cut)]}'");
            }
            Assert.True(state.IsComplete, $"distance 0 but incomplete after a prefix of '{text}'");
        }
        Assert.True(checkedPrefixes > 300);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task SchemaModeProducesADocumentTheSchemaAccepts(int seed)
    {
        using var session = _model.CreateSession();
        var result = await session.GenerateTextAsync("Once upon a time",
            new GenerationOptions { MaxTokens = 200, Sampling = Sampling(seed), Constraint = JsonConstraint.FromSchema(PersonSchema) });
        _output.WriteLine($"{result.FinishReason} ({result.Tokens.Count} tokens): {result.Text}");
        Assert.Equal(FinishReason.EndOfSequence, result.FinishReason);
        AssertCompleteOrCut(result, AssertPerson);
    }

    internal static void AssertPerson(JsonDocument doc)
    {
        var root = doc.RootElement;
        Assert.Equal(JsonValueKind.Object, root.ValueKind);
        Assert.Equal(["name", "age"], root.EnumerateObject().Select(p => p.Name).Order().Reverse());
        string name = root.GetProperty("name").GetString()!;
        Assert.True(name.EnumerateRunes().Count() <= 12, name);
        Assert.True(root.GetProperty("age").TryGetInt64(out _));
        Assert.DoesNotContain('.', root.GetProperty("age").GetRawText());
    }

    private static void AssertCompleteOrCut(GenerationResult result, Action<JsonDocument> check)
    {
        if (result.FinishReason == FinishReason.EndOfSequence)
        {
            using var doc = JsonDocument.Parse(result.Text);
            check(doc);
        }
        else
        {
            Assert.Equal(FinishReason.MaxTokens, result.FinishReason);
            Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(result.Text));
        }
    }

    [Fact]
    public async Task ADocumentCutByTheTokenLimitIsReportedAsCutNotValid()
    {
        using var session = _model.CreateSession();
        var result = await session.GenerateTextAsync("Once upon a time",
            new GenerationOptions { MaxTokens = 4, Sampling = SamplingOptions.Greedy, Constraint = JsonConstraint.FromSchema(PersonSchema) });
        Assert.Equal(FinishReason.MaxTokens, result.FinishReason);
        Assert.Equal(4, result.Tokens.Count);
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(result.Text));
    }

    [Fact]
    public async Task ConfidenceEvidenceIsTheUnmaskedModelDistribution()
    {
        using var session = _model.CreateSession();
        var prompt = _model.Tokenizer.Encode("Once upon a time");
        var raw = await session.GetNextTokenLogitsAsync(prompt);
        var result = await session.GenerateTextAsync(prompt,
            new GenerationOptions { MaxTokens = 1, Sampling = SamplingOptions.Greedy, Constraint = JsonConstraint.AnyObject });
        var token = result.Tokens[0];
        double max = raw.Max(), logSumExp = max + Math.Log(raw.Sum(z => Math.Exp(z - max)));
        Assert.Equal(raw[token.Id] - logSumExp, token.LogProbability, 3);
        Assert.Equal(Math.Exp(max - logSumExp), token.Top1Probability, 3);
        // The model never writes JSON: its favourite token is not the one the grammar forced.
        Assert.NotEqual(Array.IndexOf(raw, (float)max), token.Id);
        Assert.True(token.Probability < token.Top1Probability);
    }

    // ---- through the chat client -----------------------------------------------------------------------------------

    [Fact]
    public async Task ChatResponseFormatJsonGivesAJsonObject()
    {
        using var client = new CompactChatClient(_model);
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Tell me about Lily")],
            new ChatOptions { ResponseFormat = ChatResponseFormat.Json, Temperature = 0, MaxOutputTokens = 200 });
        _output.WriteLine($"{response.FinishReason}: {response.Text}");
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        using var doc = JsonDocument.Parse(response.Text);
        Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(7)]
    public async Task ChatResponseFormatForJsonSchemaGivesAValidDocument(int seed)
    {
        using var client = new CompactChatClient(_model);
        using var schema = JsonDocument.Parse(PersonSchema);
        var options = new ChatOptions
        {
            ResponseFormat = ChatResponseFormat.ForJsonSchema(schema.RootElement.Clone(), "person"),
            Temperature = seed < 0 ? 0 : 1,
            Seed = seed < 0 ? null : seed,
            MaxOutputTokens = 200,
        };
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Who is Lily?")], options);
        _output.WriteLine($"{response.FinishReason}: {response.Text}");
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        using var doc = JsonDocument.Parse(response.Text);
        AssertPerson(doc);
    }

    [Fact]
    public async Task AChatAnswerCutByTheTokenLimitFinishesWithLength()
    {
        using var client = new CompactChatClient(_model);
        using var schema = JsonDocument.Parse(PersonSchema);
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Who is Lily?")],
            new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(schema.RootElement.Clone()), Temperature = 0, MaxOutputTokens = 5 });
        Assert.Equal(ChatFinishReason.Length, response.FinishReason);
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(response.Text));
    }

    [Fact]
    public async Task ChatWithAnUnsupportedSchemaKeywordThrows()
    {
        using var client = new CompactChatClient(_model);
        using var schema = JsonDocument.Parse("""{"type":"string","pattern":"^a"}""");
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "hi")],
            new ChatOptions { ResponseFormat = ChatResponseFormat.ForJsonSchema(schema.RootElement.Clone()), MaxOutputTokens = 10 }));
        Assert.Contains("pattern", e.Message);
    }
}

/// <summary>Random JSON documents (nesting, escapes incl. \uXXXX and surrogate pairs, non-ASCII text, every number form) and mutations of them.</summary>
internal static class JsonCorpus
{
    private const string Hex = "0123456789abcdefABCDEF";

    public static void Whitespace(Random r, StringBuilder sb)
    {
        if (r.Next(3) != 0) return;
        int n = r.Next(1, 4);
        for (int i = 0; i < n; i++) sb.Append(" \t\n\r"[r.Next(4)]);
    }

    public static void Value(Random r, StringBuilder sb, int depth)
    {
        switch (r.Next(depth >= 6 ? 4 : 7))
        {
            case 0: String(r, sb); break;
            case 1: Number(r, sb); break;
            case 2: sb.Append(r.Next(3) switch { 0 => "true", 1 => "false", _ => "null" }); break;
            case 3: Number(r, sb); break;
            case 4:
                sb.Append('[');
                Items(r, sb, depth, () => Value(r, sb, depth + 1));
                sb.Append(']');
                break;
            default:
                sb.Append('{');
                Items(r, sb, depth, () =>
                {
                    String(r, sb);
                    Whitespace(r, sb);
                    sb.Append(':');
                    Whitespace(r, sb);
                    Value(r, sb, depth + 1);
                });
                sb.Append('}');
                break;
        }
    }

    private static void Items(Random r, StringBuilder sb, int depth, Action item)
    {
        int n = r.Next(4);
        Whitespace(r, sb);
        for (int i = 0; i < n; i++)
        {
            if (i > 0) { sb.Append(','); Whitespace(r, sb); }
            item();
            Whitespace(r, sb);
        }
    }

    private static void String(Random r, StringBuilder sb)
    {
        sb.Append('"');
        int n = r.Next(8);
        for (int i = 0; i < n; i++)
        {
            switch (r.Next(8))
            {
                case 0: sb.Append('\\').Append("\"\\/bfnrt"[r.Next(8)]); break;
                case 1:
                    sb.Append("\\u");
                    for (int k = 0; k < 4; k++) sb.Append(Hex[r.Next(Hex.Length)]);
                    break;
                case 2: sb.Append("\\uD83D\\uDE00"); break;
                case 3: sb.Append("é中😀Ωß"[r.Next(5)] switch { var c when char.IsHighSurrogate(c) => "😀", var c => c.ToString() }); break;
                default: sb.Append((char)r.Next(0x20, 0x7F) switch { '"' => 'q', '\\' => 'b', var c => c }); break;
            }
        }
        sb.Append('"');
    }

    private static void Number(Random r, StringBuilder sb)
    {
        if (r.Next(2) == 0) sb.Append('-');
        if (r.Next(4) == 0) sb.Append('0');
        else sb.Append(r.Next(1, 10)).Append(r.Next(4) == 0 ? "" : r.Next(100000).ToString(CultureInfo.InvariantCulture));
        if (r.Next(2) == 0) sb.Append('.').Append(r.Next(1000).ToString(CultureInfo.InvariantCulture));
        if (r.Next(3) == 0) sb.Append("eE"[r.Next(2)]).Append(new[] { "", "+", "-" }[r.Next(3)]).Append(r.Next(30).ToString(CultureInfo.InvariantCulture));
    }

    public static string Mutate(Random r, string doc)
    {
        const string Noise = "{}[],:\"\\ -+.eE0123456789tfnulx\u0001";
        var sb = new StringBuilder(doc);
        int at = r.Next(sb.Length + 1);
        switch (r.Next(4))
        {
            case 0 when sb.Length > 0 && at < sb.Length && !char.IsSurrogate(sb[at]): sb.Remove(at, 1); break;
            case 1: sb.Insert(at, Noise[r.Next(Noise.Length)]); break;
            case 2: sb.Length = at; break;
            default:
                if (at < sb.Length && !char.IsSurrogate(sb[at])) sb.Insert(at, sb[at]);
                else sb.Insert(at, Noise[r.Next(Noise.Length)]);
                break;
        }
        return sb.ToString();
    }
}
