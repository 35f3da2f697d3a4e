using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CompactAI.Chat;
using CompactAI.Hybrid;
using CompactAI.Inference;
using CompactAI.Server;
using CompactAI.Tests.Chat;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenAI;
using OpenAI.Chat;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using ChatResponseFormat = OpenAI.Chat.ChatResponseFormat;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;
using ChatRole = Microsoft.Extensions.AI.ChatRole;

namespace CompactAI.Tests.Server;

/// <summary>
/// The server of <see cref="CompactAIServerFixture"/>, but its chat client renders with a template that supports tools
/// (<see cref="ToolCallingTests.HermesTemplate"/>) and the context holds 512 tokens: stories260K then makes tool calls when
/// <c>tool_choice</c> requires one (constrained decoding), which is what the clients below parse.
/// </summary>
public sealed class ToolServerFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public Uri BaseAddress { get; private set; } = null!;

    public OpenAIClientOptions ClientOptions => new() { Endpoint = new Uri(BaseAddress, "v1") };

    public HttpClient Http { get; } = new();

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddCompactAI(o =>
        {
            o.ModelPath = TestData.Stories260K;
            o.Chat = new() { ModelId = CompactAIServerFixture.ModelId };
            o.Model = new() { Threads = 1, ContextSize = 512, MaxParallelSequences = 1 };
        });
        builder.Services.AddSingleton<IChatClient>(sp => new CompactChatClient(sp.GetRequiredService<CompactModel>(),
            new CompactChatClientOptions { ModelId = CompactAIServerFixture.ModelId, ChatTemplate = ToolCallingTests.HermesTemplate }));
        builder.Services.Configure<OpenAIServerOptions>(o => o.ApiKey = CompactAIServerFixture.ApiKey);
        _app = builder.Build();
        BaseAddress = await LoopbackServer.StartAsync(_app);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await LoopbackServer.StopAsync(_app);
    }
}

/// <summary>
/// Tool calls, <c>response_format</c> and log-probabilities through the official OpenAI .NET client (and
/// Microsoft.Extensions.AI over it), JSON and SSE, plus the refusals with raw requests.
/// </summary>
public sealed class OpenAIToolServerTests(ToolServerFixture tools, CompactAIServerFixture plain) : IClassFixture<ToolServerFixture>, IClassFixture<CompactAIServerFixture>
{
    private const string WeatherSchema =
        """{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Rome","Oslo"]},"celsius":{"type":"boolean"}},"required":["city","celsius"],"additionalProperties":false}""";

    private const string PersonSchema =
        """{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":0,"maximum":120}},"required":["name","age"],"additionalProperties":false}""";

    private ChatClient ToolChat() => new(CompactAIServerFixture.ModelId, new ApiKeyCredential(CompactAIServerFixture.ApiKey), tools.ClientOptions);

    private ChatClient PlainChat() => new(CompactAIServerFixture.ModelId, plain.Credential, plain.ClientOptions);

    private static ChatTool WeatherTool() => ChatTool.CreateFunctionTool("get_weather", "Weather in a city.", BinaryData.FromString(WeatherSchema));

    private static ChatTool TimeTool() => ChatTool.CreateFunctionTool("get_time", "Time in a zone.",
        BinaryData.FromString("""{"type":"object","properties":{"zone":{"type":"integer","minimum":-12,"maximum":14}},"required":["zone"]}"""));

    private static void AssertWeatherArguments(string json)
    {
        using var args = JsonDocument.Parse(json);
        Assert.Contains(args.RootElement.GetProperty("city").GetString(), new[] { "Paris", "Rome", "Oslo" });
        Assert.True(args.RootElement.GetProperty("celsius").ValueKind is JsonValueKind.True or JsonValueKind.False);
    }

    [Fact]
    public async Task OpenAIClient_ToolChoiceNamed_NonStreaming_ParsesTheToolCall()
    {
        var options = new ChatCompletionOptions
        {
            Tools = { WeatherTool(), TimeTool() },
            ToolChoice = ChatToolChoice.CreateFunctionChoice("get_weather"),
            Temperature = 0,
            MaxOutputTokenCount = 120,
        };
        ChatCompletion completion = await ToolChat().CompleteChatAsync([new UserChatMessage("Once upon a time")], options);
        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.False(string.IsNullOrEmpty(call.Id));
        AssertWeatherArguments(call.FunctionArguments.ToString());
        Assert.DoesNotContain("\n", call.FunctionArguments.ToString(), StringComparison.Ordinal); // compact, as OpenAI sends them

        // The call and its result go back in; the answer is 200 with text.
        ChatCompletion next = await ToolChat().CompleteChatAsync(
            [new UserChatMessage("Once upon a time"), new AssistantChatMessage([call]), new ToolChatMessage(call.Id, "Sunny, 18 degrees")],
            new ChatCompletionOptions { Tools = { WeatherTool() }, ToolChoice = ChatToolChoice.CreateNoneChoice(), Temperature = 0, MaxOutputTokenCount = 16 });
        Assert.Empty(next.ToolCalls);
        Assert.NotEqual(ChatFinishReason.ToolCalls, next.FinishReason);
    }

    [Fact]
    public async Task OpenAIClient_ToolChoiceRequired_Streaming_ParsesDeltaToolCalls()
    {
        var options = new ChatCompletionOptions { Tools = { WeatherTool() }, ToolChoice = ChatToolChoice.CreateRequiredChoice(), Temperature = 0, MaxOutputTokenCount = 120 };
        var names = new Dictionary<int, string>();
        var ids = new Dictionary<int, string>();
        var arguments = new Dictionary<int, StringBuilder>();
        ChatFinishReason? finish = null;
        await foreach (var update in ToolChat().CompleteChatStreamingAsync([new UserChatMessage("Once upon a time")], options))
        {
            finish ??= update.FinishReason;
            foreach (var t in update.ToolCallUpdates)
            {
                if (t.FunctionName is { } n) names[t.Index] = n;
                if (t.ToolCallId is { } id) ids[t.Index] = id;
                (arguments.TryGetValue(t.Index, out var sb) ? sb : arguments[t.Index] = new StringBuilder()).Append(t.FunctionArgumentsUpdate?.ToString());
            }
        }
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal("get_weather", Assert.Single(names).Value);
        Assert.False(string.IsNullOrEmpty(ids[0]));
        AssertWeatherArguments(arguments[0].ToString());
    }

    [Fact]
    public async Task MeaiOverTheOpenAIClient_FunctionInvocation_RunsTheCallMadeByTheServer()
    {
        string? city = null;
        var weather = AIFunctionFactory.Create((string city_) => { city = city_; return "Sunny"; }, "get_weather", "Weather in a city.");
        using var client = new ChatClientBuilder(ToolChat().AsIChatClient()).UseFunctionInvocation().Build();
        var response = await client.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")],
            new ChatOptions { Tools = [weather], ToolMode = ChatToolMode.RequireAny, Temperature = 0, MaxOutputTokens = 100 });
        Assert.NotNull(city);
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        var result = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>());
        Assert.Equal(call.CallId, result.CallId);
    }

    [Fact]
    public async Task OpenAIClient_JsonSchema_JsonAndSse_GiveDocumentsTheSchemaAccepts()
    {
        var options = new ChatCompletionOptions
        {
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(PersonSchema), jsonSchemaIsStrict: true),
            Temperature = 0,
            MaxOutputTokenCount = 120,
        };
        var messages = new List<OpenAI.Chat.ChatMessage> { new UserChatMessage("Describe a person as JSON. Once upon a time") };
        ChatCompletion completion = await PlainChat().CompleteChatAsync(messages, options);
        AssertPerson(completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);

        var streamed = new StringBuilder();
        await foreach (var update in PlainChat().CompleteChatStreamingAsync(messages, options))
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
        Assert.Equal(completion.Content[0].Text, streamed.ToString());

        ChatCompletion jsonObject = await PlainChat().CompleteChatAsync(messages, new ChatCompletionOptions { ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat(), Temperature = 0, MaxOutputTokenCount = 120 });
        using var any = JsonDocument.Parse(jsonObject.Content[0].Text);
        Assert.Equal(JsonValueKind.Object, any.RootElement.ValueKind);
    }

    private static void AssertPerson(string text)
    {
        using var doc = JsonDocument.Parse(text);
        Assert.True(doc.RootElement.GetProperty("name").GetString()!.Length <= 12);
        Assert.InRange(doc.RootElement.GetProperty("age").GetInt64(), 0, 120);
        Assert.Equal(2, doc.RootElement.EnumerateObject().Count());
    }

    [Fact]
    public async Task OpenAIClient_LogProbs_JsonAndSse_AreTheModelsOwn()
    {
        const int top = 3;
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 10, IncludeLogProbabilities = true, TopLogProbabilityCount = top };
        ChatCompletion completion = await PlainChat().CompleteChatAsync([new UserChatMessage("Once upon a time")], options);
        var lp = completion.ContentTokenLogProbabilities;
        Assert.Equal(10, lp.Count);

        // The same tokens and log-probabilities as the in-process client.
        var local = await plain.LocalChat.GetResponseAsync([new ChatMessage(ChatRole.User, "Once upon a time")],
            new ChatOptions { Temperature = 0, MaxOutputTokens = 10, AdditionalProperties = new() { [CompactAIPropertyNames.TopLogProbs] = top } });
        var tokens = (IReadOnlyList<GeneratedToken>)local.AdditionalProperties![CompactAIPropertyNames.Tokens]!;
        for (int i = 0; i < tokens.Count; i++)
        {
            Assert.Equal(tokens[i].LogProbability, lp[i].LogProbability, 5);
            Assert.Equal(top, lp[i].TopLogProbabilities.Count);
            Assert.Equal(lp[i].Token, lp[i].TopLogProbabilities[0].Token);
            Assert.Equal(lp[i].Token, Encoding.UTF8.GetString(lp[i].Utf8Bytes!.Value.Span));
            for (int k = 0; k < top; k++) Assert.Equal(tokens[i].TopLogProbabilities![k].LogProbability, lp[i].TopLogProbabilities[k].LogProbability, 5);
        }
        Assert.Equal(completion.Content[0].Text.TrimStart(), string.Concat(lp.Select(t => t.Token)).TrimStart());

        var streamed = new List<ChatTokenLogProbabilityDetails>();
        await foreach (var update in PlainChat().CompleteChatStreamingAsync([new UserChatMessage("Once upon a time")], options))
            streamed.AddRange(update.ContentTokenLogProbabilities);
        Assert.Equal(lp.Select(t => (t.Token, t.LogProbability)), streamed.Select(t => (t.Token, t.LogProbability)));

        // Without logprobs there are none.
        ChatCompletion none = await PlainChat().CompleteChatAsync([new UserChatMessage("Once upon a time")], new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 4 });
        Assert.Empty(none.ContentTokenLogProbabilities);
    }

    [Fact]
    public async Task Completions_LogProbs_InTheLegacyShape()
    {
        using var response = await plain.Http.SendAsync(Post(plain.BaseAddress, "v1/completions", """{"prompt":"Once upon a time","max_tokens":6,"temperature":0,"logprobs":2}"""));
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var choice = json.RootElement.GetProperty("choices")[0];
        var lp = choice.GetProperty("logprobs");
        Assert.Equal(6, lp.GetProperty("tokens").GetArrayLength());
        Assert.Equal(6, lp.GetProperty("token_logprobs").GetArrayLength());
        var offsets = lp.GetProperty("text_offset").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(0, offsets[0]);
        Assert.True(offsets.Zip(offsets.Skip(1)).All(p => p.First <= p.Second));
        int i = 0;
        foreach (var alternatives in lp.GetProperty("top_logprobs").EnumerateArray())
        {
            var best = alternatives.EnumerateObject().First();
            Assert.Equal(2, alternatives.EnumerateObject().Count());
            Assert.Equal(lp.GetProperty("tokens")[i].GetString(), best.Name); // greedy: the chosen token is the most likely
            Assert.Equal(lp.GetProperty("token_logprobs")[i].GetSingle(), best.Value.GetSingle(), 5);
            i++;
        }
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"tools":"nope"}""", "invalid_type", "tools")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"xml"}}""", "invalid_value", "response_format.type")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"^a+$"}}}}""", "unsupported_schema", "response_format.json_schema.schema")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"top_logprobs":2}""", "invalid_value", "top_logprobs")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21}""", "invalid_value", "top_logprobs")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}""", "invalid_value", "tool_choice")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}""", "invalid_value", "tool_choice")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"oneOf":[]}}}}}],"tool_choice":"required"}""", "unsupported_schema", "tools")]
    [InlineData("""{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}""", "invalid_value", "messages[0].tool_calls[0].function.arguments")]
    [InlineData("""{"messages":[{"role":"tool","content":"x"}]}""", "missing_required_parameter", "messages[0].tool_call_id")]
    public async Task InvalidToolOrFormatRequest_Is400NamingTheField(string body, string code, string param)
    {
        using var response = await tools.Http.SendAsync(Post(tools.BaseAddress, "v1/chat/completions", body));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, text);
        using var json = JsonDocument.Parse(text);
        var error = json.RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        if (body.Contains("pattern", StringComparison.Ordinal)) Assert.Contains("pattern", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        if (body.Contains("oneOf", StringComparison.Ordinal)) Assert.Contains("oneOf", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ToolsOnAModelWhoseTemplateHasNoToolSupport_Are400()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() => PlainChat().CompleteChatAsync([new UserChatMessage("hi")],
            new ChatCompletionOptions { Tools = { WeatherTool() }, MaxOutputTokenCount = 4 }));
        Assert.Equal(400, error.Status);
        Assert.Contains("tools_not_supported", error.Message, StringComparison.Ordinal);
        // tool_choice "none" switches them off: then the request is answered.
        ChatCompletion ok = await PlainChat().CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { Tools = { WeatherTool() }, ToolChoice = ChatToolChoice.CreateNoneChoice(), MaxOutputTokenCount = 4 });
        Assert.NotEmpty(ok.Content[0].Text);
    }

    private static HttpRequestMessage Post(Uri baseAddress, string path, string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseAddress, path)) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", CompactAIServerFixture.ApiKey);
        return request;
    }
}
