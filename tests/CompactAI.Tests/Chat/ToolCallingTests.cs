using System.Text.Json;
using CompactAI.Chat;
using CompactAI.Hybrid;
using CompactAI.Inference;
using CompactAI.Sampling;
using Microsoft.Extensions.AI;

namespace CompactAI.Tests.Chat;

/// <summary>
/// Tool calling through <see cref="CompactChatClient"/>: the call formats of the model families, the streamer, a forced call
/// made by stories260K under constrained decoding, and <see cref="FunctionInvokingChatClient"/> end to end.
/// </summary>
public sealed class ToolCallingTests : IClassFixture<Stories260KFixture>
{
    /// <summary>A compact Hermes-style template (the real ones do not fit stories260K's context): tools, calls, results.</summary>
    public const string HermesTemplate =
        "{%- if tools %}<|im_start|>system\nTools:{% for t in tools %} {{ t.function.name }}{% endfor %}<|im_end|>\n{% endif %}" +
        "{%- for m in messages %}{%- if m.role == 'tool' %}<|im_start|>user\n<tool_response>{{ m.content }}</tool_response><|im_end|>\n" +
        "{% elif m.tool_calls %}<|im_start|>assistant\n{% for c in m.tool_calls %}<tool_call>{{ {'name': c.function.name, 'arguments': c.function.arguments} | tojson }}</tool_call>{% endfor %}<|im_end|>\n" +
        "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

    private static readonly HashSet<string> Names = ["get_weather", "get_time"];
    private readonly CompactModel _model;

    public ToolCallingTests(Stories260KFixture fixture) => _model = fixture.Model;

    private static AIFunctionDeclaration Weather() => AIFunctionFactory.CreateDeclaration("get_weather", "Weather in a city.", Schema(
        """{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Rome","Oslo"]},"celsius":{"type":"boolean"}},"required":["city","celsius"],"additionalProperties":false}"""));

    private static AIFunctionDeclaration Time() => AIFunctionFactory.CreateDeclaration("get_time", "Time in a zone.", Schema(
        """{"type":"object","properties":{"zone":{"type":"integer","minimum":-12,"maximum":14}},"required":["zone"],"additionalProperties":false}"""));

    private static JsonElement Schema(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Theory]
    // Qwen 2.5 / Qwen 3 / Hermes 2 Pro: tagged blocks, text around them, several calls.
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"celsius\": true}}\n</tool_call>", "", "get_weather:{\"city\":\"Paris\",\"celsius\":true}")]
    [InlineData("Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 1}}\n</tool_call>", "Let me check.", "get_weather:{\"city\":\"Rome\"}|get_time:{\"zone\":1}")]
    [InlineData("<tool_call>\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 2}}", "", "get_time:{\"zone\":2}")]
    // Llama 3.1-3.3: bare JSON with "parameters", optionally after <|python_tag|>.
    [InlineData("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", "", "get_weather:{\"city\":\"Oslo\"}")]
    [InlineData("<|python_tag|>{\"name\": \"get_time\", \"parameters\": {\"zone\": -3}}", "", "get_time:{\"zone\":-3}")]
    // Mistral: [TOOL_CALLS] then an array (v3) or name[ARGS]{...} (v11+).
    [InlineData("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abcDEF123\"}]", "", "get_weather:{\"city\":\"Paris\"}")]
    [InlineData("[TOOL_CALLS]get_time[ARGS]{\"zone\": 5}", "", "get_time:{\"zone\":5}")]
    // Generic fallback: a fenced object, OpenAI-style tool_calls, arguments as a JSON string.
    [InlineData("```json\n{\"name\": \"get_time\", \"arguments\": {\"zone\": 0}}\n```", "", "get_time:{\"zone\":0}")]
    [InlineData("{\"tool_calls\": [{\"type\": \"function\", \"function\": {\"name\": \"get_time\", \"arguments\": \"{\\\"zone\\\": 7}\"}}]}", "", "get_time:{\"zone\":7}")]
    // Not calls: unknown function, prose, JSON that is no call.
    [InlineData("{\"name\": \"launch_rockets\", \"arguments\": {}}", "{\"name\": \"launch_rockets\", \"arguments\": {}}", "")]
    [InlineData("It is sunny in Paris.", "It is sunny in Paris.", "")]
    [InlineData("{\"city\": \"Paris\"}", "{\"city\": \"Paris\"}", "")]
    public void Parse_ReadsEachFamilysFormat(string output, string text, string expected)
    {
        var (rest, calls) = ToolCalling.Parse(output, Names);
        Assert.Equal(text, rest);
        Assert.Equal(expected, string.Join("|", calls.Select(c => c.Name + ":" + JsonSerializer.Serialize(c.Arguments))));
        Assert.All(calls, c => Assert.False(string.IsNullOrEmpty(c.CallId)));
        if (output.Contains("abcDEF123", StringComparison.Ordinal)) Assert.Equal("abcDEF123", calls[0].CallId);
    }

    [Fact]
    public void Streamer_LetsTextThrough_HoldsACallUntilItCloses()
    {
        var s = new ToolCallStreamer(Names, holdAll: false);
        Assert.Equal("Sure", Texts(s.Push("Sure")));
        Assert.Equal(", checking ", Texts(s.Push(", checking <tool")));   // "<tool" may start a call: held
        Assert.Empty(s.Push("_call>\n{\"name\": \"get_time\", "));
        var done = s.Push("\"arguments\": {\"zone\": 3}}\n</tool_call>");
        var call = Assert.IsType<FunctionCallContent>(Assert.Single(done));
        Assert.Equal("get_time", call.Name);
        Assert.Equal(" bye", Texts(s.Push(" bye")));
        Assert.Empty(s.Finish());

        var json = new ToolCallStreamer(Names, holdAll: false);
        Assert.Empty(json.Push(" {\"name\": \"get_time\","));  // JSON at the start: held to the end
        Assert.Empty(json.Push(" \"parameters\": {\"zone\": 1}}"));
        Assert.IsType<FunctionCallContent>(Assert.Single(json.Finish()));

        var prose = new ToolCallStreamer(Names, holdAll: false);
        Assert.Empty(prose.Push("{not json"));
        Assert.Equal("{not json", Texts(prose.Finish()));
    }

    private static string Texts(IEnumerable<AIContent> contents) => string.Concat(contents.Select(c => Assert.IsType<TextContent>(c).Text));

    [Fact]
    public void Messages_MapCallsAndResultsOntoTemplateVariables()
    {
        var args = new Dictionary<string, object?> { ["city"] = "Paris", ["celsius"] = true };
        var conversation = new List<ChatMessage>
        {
            new(ChatRole.User, "Weather?"),
            new(ChatRole.Assistant, [new FunctionCallContent("abcDEF123", "get_weather", args)]),
            new(ChatRole.Tool, [new FunctionResultContent("abcDEF123", JsonSerializer.SerializeToElement(new { temperature = 18 }))]),
        };
        var template = ChatTemplate.Parse(HermesTemplate);
        string text = template.Render(new Dictionary<string, object?> { ["messages"] = ToolCalling.Messages(conversation), ["add_generation_prompt"] = true });
        Assert.Equal(
            "<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"celsius\": true}}</tool_call><|im_end|>\n" +
            "<|im_start|>user\n<tool_response>{\"temperature\":18}</tool_response><|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public async Task RequiredToolMode_ConstrainsStories260KToAValidCallOfTheNamedFunction()
    {
        using var client = new CompactChatClient(_model, new CompactChatClientOptions { ChatTemplate = HermesTemplate });
        Assert.True(client.SupportsTools);
        foreach (var seed in new long[] { 1, 2, 3 })
        {
            var options = new ChatOptions { Tools = [Weather(), Time()], ToolMode = ChatToolMode.RequireSpecific("get_weather"), Seed = seed, Temperature = 1, MaxOutputTokens = 150 };
            var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")], options);
            Assert.True(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().Any(), "text: [" + response.Text + "] " + response.FinishReason + " tokens: " + string.Join("|", ((IReadOnlyList<GeneratedToken>)response.AdditionalProperties![CompactAIPropertyNames.Tokens]!).Select(t => t.Text)) + " msgs: " + string.Join(";", response.Messages.SelectMany(m => m.Contents).Select(c => c.GetType().Name)));
            var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
            Assert.Equal("get_weather", call.Name);
            Assert.Contains(((JsonElement)call.Arguments!["city"]!).GetString(), new[] { "Paris", "Rome", "Oslo" });
            Assert.True(((JsonElement)call.Arguments["celsius"]!).ValueKind is JsonValueKind.True or JsonValueKind.False);
            Assert.Equal(ChatFinishReason.ToolCalls, response.FinishReason);
            Assert.Equal(CompactAIPropertyNames.FinishToolCalls, response.AdditionalProperties![CompactAIPropertyNames.FinishReason]);
        }
    }

    [Fact]
    public async Task RequireAny_AmongTwoFunctions_GivesACallWhoseArgumentsFitThatFunctionsSchema()
    {
        using var client = new CompactChatClient(_model, new CompactChatClientOptions { ChatTemplate = HermesTemplate });
        var seen = new HashSet<string>();
        for (long seed = 1; seed <= 6; seed++)
        {
            var options = new ChatOptions { Tools = [Weather(), Time()], ToolMode = ChatToolMode.RequireAny, Seed = seed, Temperature = 1.5f, MaxOutputTokens = 150 };
            var updates = new List<ChatResponseUpdate>();
            await foreach (var u in client.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "Tom had a")], options)) updates.Add(u);
            var call = Assert.Single(updates.SelectMany(u => u.Contents).OfType<FunctionCallContent>());
            seen.Add(call.Name);
            if (call.Name == "get_time")
            {
                long zone = ((JsonElement)call.Arguments!["zone"]!).GetInt64();
                Assert.InRange(zone, -12, 14);
                Assert.Single(call.Arguments);
            }
            else Assert.Equal(["celsius", "city"], call.Arguments!.Keys.Order());
            Assert.Equal(ChatFinishReason.ToolCalls, updates[^1].FinishReason);
            Assert.Equal("", string.Concat(updates.Select(u => u.Text)));
        }
        Assert.NotEmpty(seen);
    }

    [Fact]
    public async Task FunctionInvokingChatClient_RunsTheForcedCall_AndSendsTheResultBack()
    {
        using var model = CompactModel.Load(TestData.Stories260K, new CompactModelOptions { Threads = 2, ContextSize = 512, MaxParallelSequences = 1 });
        using var local = new CompactChatClient(model, new CompactChatClientOptions { ChatTemplate = HermesTemplate });
        var spy = new RecordingClient(local);
        string? cityAsked = null;
        var weather = AIFunctionFactory.Create((string city) => { cityAsked = city; return $"Sunny in {city}"; }, "get_weather", "Weather in a city.");
        using var client = new ChatClientBuilder(spy).UseFunctionInvocation().Build();
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")],
            new ChatOptions { Tools = [weather], ToolMode = ChatToolMode.RequireAny, Temperature = 0, MaxOutputTokens = 120 });

        Assert.NotNull(cityAsked);
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        var result = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>());
        Assert.Equal(call.CallId, result.CallId);
        // The second request carried the call and its result, and the template rendered the result into the prompt.
        Assert.Equal(2, spy.Requests.Count);
        string prompt = local.Template.Render(new Dictionary<string, object?> { ["messages"] = ToolCalling.Messages(spy.Requests[1]), ["add_generation_prompt"] = true });
        Assert.Contains($"<tool_response>Sunny in {cityAsked}</tool_response>", prompt);
        Assert.Contains("<tool_call>{\"name\": \"get_weather\"", prompt);
        Assert.NotEqual(ChatFinishReason.ToolCalls, response.FinishReason); // the last answer is text (tool mode back to auto)
    }

    [Fact]
    public async Task ToolsOnATemplateWithoutToolSupport_AreRefused_AndToolModeNoneIgnoresThem()
    {
        using var client = new CompactChatClient(_model); // ChatML fallback: no tools
        Assert.False(client.SupportsTools);
        var e = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { Tools = [Time()], MaxOutputTokens = 4 }));
        Assert.Contains("tools", e.Message, StringComparison.Ordinal);
        var plain = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });
        var none = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Hi")], new ChatOptions { Tools = [Time()], ToolMode = ChatToolMode.None, Temperature = 0, MaxOutputTokens = 8 });
        Assert.Equal(plain.Text, none.Text);
    }

    [Fact]
    public async Task TopLogProbs_AreTheModelsDistribution_FirstIsTheGreedyChoice()
    {
        using var client = new CompactChatClient(_model);
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 12, AdditionalProperties = new() { [CompactAIPropertyNames.LogProbs] = true, [CompactAIPropertyNames.TopLogProbs] = 5 } };
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")], options);
        var tokens = (IReadOnlyList<GeneratedToken>)response.AdditionalProperties![CompactAIPropertyNames.Tokens]!;
        Assert.Equal(12, tokens.Count);
        foreach (var t in tokens)
        {
            var top = t.TopLogProbabilities!;
            Assert.Equal(5, top.Count);
            Assert.Equal(t.Id, top[0].Id);
            Assert.Equal(t.LogProbability, top[0].LogProbability, 5);
            Assert.Equal(t.Top1Probability, MathF.Exp(top[0].LogProbability), 4);
            Assert.Equal(t.Top2Probability, MathF.Exp(top[1].LogProbability), 4);
            for (int i = 1; i < top.Count; i++) Assert.True(top[i - 1].LogProbability >= top[i].LogProbability);
            Assert.True(top.Sum(a => MathF.Exp(a.LogProbability)) <= 1.0001f);
        }
        var without = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")], new ChatOptions { Temperature = 0, MaxOutputTokens = 12 });
        Assert.All((IReadOnlyList<GeneratedToken>)without.AdditionalProperties![CompactAIPropertyNames.Tokens]!, t => Assert.Null(t.TopLogProbabilities));
    }

    [Fact]
    public void TopLogProbabilities_EqualsASortOfTheWholeVocabulary()
    {
        var rng = new Random(7);
        foreach (int n in new[] { 1, 3, 50, 1000 })
        {
            var logits = Enumerable.Range(0, n).Select(_ => (float)Math.Round(rng.NextDouble() * 8, 1)).ToArray(); // rounding makes ties
            float lse = (float)Math.Log(logits.Sum(z => Math.Exp(z)));
            foreach (int k in new[] { 0, 1, 5, 20 })
            {
                var got = Sampler.TopLogProbabilities(logits, lse, k);
                var want = logits.Select((z, i) => (z, i)).OrderByDescending(x => x.z).ThenBy(x => x.i).Take(k).ToArray();
                Assert.Equal(want.Select(x => x.i), got.Select(g => g.Id));
                Assert.Equal(want.Select(x => x.z - lse), got.Select(g => g.LogProbability));
            }
        }
    }

    private sealed class RecordingClient(IChatClient inner) : DelegatingChatClient(inner)
    {
        public List<List<ChatMessage>> Requests { get; } = [];

        public override Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Requests.Add(messages.ToList());
            return base.GetResponseAsync(messages, options, cancellationToken);
        }
    }
}
