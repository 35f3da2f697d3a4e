using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using OpenAI.Embeddings;
using OpenAI.Models;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;
using ChatRole = Microsoft.Extensions.AI.ChatRole;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;

namespace CompactAI.Tests.Server;

/// <summary>
/// The server's OpenAI compatibility, checked with the official OpenAI .NET client (directly and through
/// Microsoft.Extensions.AI.OpenAI) over real HTTP, and its refusals checked with raw requests.
/// </summary>
public sealed class OpenAIServerTests(CompactAIServerFixture server) : IClassFixture<CompactAIServerFixture>
{
    private const string Prompt = "Once upon a time";
    private const int MaxTokens = 24;

    private Task<string> LocalGreedyAsync() =>
        server.LocalChat.GetResponseAsync([new ChatMessage(ChatRole.User, Prompt)], new ChatOptions { Temperature = 0, MaxOutputTokens = MaxTokens })
            .ContinueWith(t => t.Result.Text, TaskScheduler.Default);

    private ChatClient OpenAIChat() => new(CompactAIServerFixture.ModelId, server.Credential, server.ClientOptions);

    [Fact]
    public async Task OpenAIChatClient_NonStreaming_EqualsInProcessGreedy()
    {
        ChatCompletion completion = await OpenAIChat().CompleteChatAsync(
            [new UserChatMessage(Prompt)], new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = MaxTokens });

        string expected = await LocalGreedyAsync();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(MaxTokens, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.Equal(CompactAIServerFixture.ModelId, completion.Model);
    }

    [Fact]
    public async Task OpenAIChatClient_Streaming_EqualsInProcessGreedy_WithUsage()
    {
        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        int chunks = 0;
        await foreach (StreamingChatCompletionUpdate update in OpenAIChat().CompleteChatStreamingAsync(
                           [new UserChatMessage(Prompt)], new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = MaxTokens }))
        {
            chunks++;
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }

        Assert.Equal(await LocalGreedyAsync(), text.ToString());
        Assert.True(chunks > 2, $"expected several chunks, got {chunks}");
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.NotNull(usage);
        Assert.Equal(MaxTokens, usage.OutputTokenCount);
    }

    [Fact]
    public async Task MeaiAsIChatClient_NonStreamingAndStreaming_EqualInProcessGreedy()
    {
        IChatClient remote = OpenAIChat().AsIChatClient();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = MaxTokens };
        string expected = await LocalGreedyAsync();

        ChatResponse response = await remote.GetResponseAsync(Prompt, options);
        Assert.Equal(expected, response.Text);
        Assert.Equal(MaxTokens, response.Usage?.OutputTokenCount);

        ChatResponse streamed = await remote.GetStreamingResponseAsync(Prompt, options).ToChatResponseAsync();
        Assert.Equal(expected, streamed.Text);
        Assert.Equal(MaxTokens, streamed.Usage?.OutputTokenCount);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Length, streamed.FinishReason);
    }

    [Fact]
    public async Task RawStream_IsServerSentEvents_EndingWithDone()
    {
        using var request = Post("v1/chat/completions",
            """{"model":"stories260K","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":3,"temperature":0,"stream":true}""");
        using var response = await server.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        string[] events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        using var last = JsonDocument.Parse(events[^2]["data: ".Length..]);
        Assert.Equal("length", last.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.False(last.RootElement.TryGetProperty("usage", out _)); // only when stream_options.include_usage asks
    }

    [Fact]
    public async Task Completions_RawPrompt_IsTheGreedyContinuation()
    {
        using var response = await server.Http.SendAsync(Post("v1/completions", """{"prompt":"Once upon a time","max_tokens":10,"temperature":0}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.StartsWith(", there was a little girl named Lily", json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal(10, json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Completions_Streamed_EqualsNonStreamed()
    {
        const string body = """{"prompt":"Lily and Ben","max_tokens":12,"temperature":0%STREAM%}""";
        using var whole = await server.Http.SendAsync(Post("v1/completions", body.Replace("%STREAM%", "")));
        using var json = JsonDocument.Parse(await whole.Content.ReadAsStringAsync());
        string expected = json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;

        using var streamed = await server.Http.SendAsync(Post("v1/completions", body.Replace("%STREAM%", ",\"stream\":true")));
        string[] events = (await streamed.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        string text = string.Concat(events[..^1].Select(e =>
        {
            using var chunk = JsonDocument.Parse(e["data: ".Length..]);
            return chunk.RootElement.GetProperty("choices")[0].GetProperty("text").GetString();
        }));
        Assert.Equal(expected, text);
    }

    [Fact]
    public async Task ConcurrentRequests_QueueOnTheSessionPool_AndAllAnswerGreedily()
    {
        // Eight requests against MaxParallelSequences = 2: all are served, each with the same greedy answer.
        string expected = await LocalGreedyAsync();
        var requests = Enumerable.Range(0, 8).Select(async _ =>
        {
            using var response = await server.Http.SendAsync(Post("v1/chat/completions",
                $$"""{"messages":[{"role":"user","content":"{{Prompt}}"}],"max_tokens":{{MaxTokens}},"temperature":0}"""));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return json.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
        });
        Assert.All(await Task.WhenAll(requests), text => Assert.Equal(expected, text));
    }

    [Fact]
    public async Task OpenAIEmbeddingClient_Gets64DimensionUnitVectors()
    {
        var client = new EmbeddingClient(CompactAIServerFixture.ModelId, server.Credential, server.ClientOptions);
        OpenAIEmbeddingCollection embeddings = await client.GenerateEmbeddingsAsync(["The cat sat on the mat.", "Lily went to the park."]);

        Assert.Equal(2, embeddings.Count);
        foreach (OpenAIEmbedding e in embeddings)
        {
            ReadOnlyMemory<float> vector = e.ToFloats();
            Assert.Equal(64, vector.Length);
            Assert.Equal(1f, TensorPrimitives.Norm(vector.Span), 1e-4f);
        }
        Assert.NotEqual(embeddings[0].ToFloats().ToArray(), embeddings[1].ToFloats().ToArray());
    }

    [Fact]
    public async Task Embeddings_FloatFormat_MatchesInProcessGenerator()
    {
        using var response = await server.Http.SendAsync(Post("v1/embeddings", """{"input":"Lily went to the park.","encoding_format":"float"}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        float[] served = json.RootElement.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        var local = new CompactAI.Chat.CompactEmbeddingGenerator((CompactModel)server.LocalChat.GetService(typeof(CompactModel))!);
        var expected = (await local.GenerateAsync(["Lily went to the park."]))[0].Vector.ToArray();
        Assert.Equal(expected, served);
    }

    [Fact]
    public async Task OpenAIModelClient_ListsTheModel()
    {
        var client = new OpenAIModelClient(server.Credential, server.ClientOptions);
        OpenAIModelCollection models = await client.GetModelsAsync();
        Assert.Equal(CompactAIServerFixture.ModelId, Assert.Single(models).Id);
        OpenAIModel model = await client.GetModelAsync(CompactAIServerFixture.ModelId);
        Assert.Equal("compactai", model.OwnedBy);
    }

    [Fact]
    public async Task Health_IsOpen_AndReportsTheModel()
    {
        using var response = await server.Http.GetAsync(new Uri(server.BaseAddress, "health"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("ok", json.RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task ApiKey_MissingOrWrong_Is401Json()
    {
        using (var request = Post("v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":1}""", apiKey: null))
        using (var response = await server.Http.SendAsync(request))
            await AssertErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_api_key");

        using (var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.BaseAddress, "v1/models")))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "wrong-key");
            using var response = await server.Http.SendAsync(request);
            await AssertErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_api_key");
        }

        var wrong = new ChatClient(CompactAIServerFixture.ModelId, new ApiKeyCredential("wrong-key"), server.ClientOptions);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => wrong.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(401, error.Status);
    }

    [Fact]
    public async Task OversizedBody_Is413Json_WithOrWithoutContentLength()
    {
        string big = $$"""{"messages":[{"role":"user","content":"{{new string('a', (int)CompactAIServerFixture.MaxBodyBytes)}}"}]}""";
        using (var response = await server.Http.SendAsync(Post("v1/chat/completions", big)))
            await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "request_too_large");

        // Chunked: no Content-Length, so the limit is enforced while reading.
        using var chunked = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseAddress, "v1/embeddings"))
        {
            Content = new StreamContent(new UnknownLengthStream(Encoding.UTF8.GetBytes(big))),
        };
        chunked.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        chunked.Headers.Authorization = new AuthenticationHeaderValue("Bearer", CompactAIServerFixture.ApiKey);
        using (var response = await server.Http.SendAsync(chunked))
        {
            Assert.Null(chunked.Content.Headers.ContentLength);
            await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "request_too_large");
        }
    }

    [Theory]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}""", "invalid_json")]
    [InlineData("""not json at all""", "invalid_json")]
    [InlineData("""[1,2,3]""", "invalid_json")]
    [InlineData("""{"max_tokens":5}""", "missing_required_parameter")]
    [InlineData("""{"messages":[{"role":"wizard","content":"hi"}]}""", "invalid_value")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", "invalid_type")]
    [InlineData("""{"messages":[{"role":"user","content":"hi"}],"n":2}""", "invalid_value")]
    public async Task MalformedOrInvalidRequest_Is400Json(string body, string code)
    {
        using var response = await server.Http.SendAsync(Post("v1/chat/completions", body));
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, code);
    }

    [Fact]
    public async Task MaxTokensTooLarge_Is400Json_NamingTheField()
    {
        using var response = await server.Http.SendAsync(Post("v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":1000000}"""));
        using var json = await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_value");
        Assert.Equal("max_tokens", json.RootElement.GetProperty("error").GetProperty("param").GetString());

        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            OpenAIChat().CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 1_000_000 }));
        Assert.Equal(400, error.Status);
    }

    [Fact]
    public async Task ConversationLongerThanTheContext_Is400ContextLengthExceeded()
    {
        // A whole-context answer leaves no room for the prompt.
        using var chat = await server.Http.SendAsync(Post("v1/chat/completions", """{"messages":[{"role":"user","content":"hi"}],"max_tokens":2048}"""));
        await AssertErrorAsync(chat, HttpStatusCode.BadRequest, "context_length_exceeded");
        using var completion = await server.Http.SendAsync(Post("v1/completions", """{"prompt":"Once upon a time","max_tokens":2048}"""));
        await AssertErrorAsync(completion, HttpStatusCode.BadRequest, "context_length_exceeded");
    }

    [Fact]
    public async Task UnknownRoute_Is404Json()
    {
        using var response = await server.Http.GetAsync(new Uri(server.BaseAddress, "v1/no/such/route"));
        await AssertErrorAsync(response, HttpStatusCode.NotFound, "unknown_url");
    }

    private HttpRequestMessage Post(string path, string json, string? apiKey = CompactAIServerFixture.ApiKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseAddress, path))
        {
            Content = new StringContent(json, Encoding.UTF8, "application/json"),
        };
        if (apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return request;
    }

    private static async Task<JsonDocument> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(body);
        var error = json.RootElement.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.False(string.IsNullOrEmpty(error.GetProperty("type").GetString()));
        Assert.Equal(code, error.GetProperty("code").GetString());
        return json;
    }

    /// <summary>A read-only stream that hides its length, so HttpClient sends the body chunked.</summary>
    private sealed class UnknownLengthStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
