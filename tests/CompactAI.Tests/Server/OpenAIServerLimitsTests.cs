using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using CompactAI.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CompactAI.Tests.Server;

/// <summary>
/// The server wired as the sample's Program.cs wires it, with small limits (one session of 64 tokens, one queued request,
/// a 6 s generation timeout, Kestrel's minimum body rate of 240 bytes/s after a 3 s grace) and every log entry captured.
/// </summary>
public sealed class LimitedServerFixture : IAsyncLifetime
{
    public const string ApiKey = "limits-key";
    public const int TimeoutSeconds = 6;
    public const int ContextSize = 64;

    private WebApplication? _app;

    public Uri BaseAddress { get; private set; } = null!;

    public int Port => BaseAddress.Port;

    public HttpClient Http { get; } = new();

    public ConcurrentQueue<(string Category, LogLevel Level, Exception? Exception, string Message)> Log { get; } = new();

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddProvider(new CapturingLoggerProvider(Log));
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0);
            k.Limits.MinRequestBodyDataRate = new MinDataRate(bytesPerSecond: 240, gracePeriod: TimeSpan.FromSeconds(3));
        });
        builder.Services.AddCompactAI(o =>
        {
            o.ModelPath = TestData.Stories260K;
            o.Model = new() { Threads = 1, MaxParallelSequences = 1, ContextSize = ContextSize };
        });
        builder.Services.Configure<OpenAIServerOptions>(o =>
        {
            o.ApiKey = ApiKey;
            o.GenerationTimeoutSeconds = TimeoutSeconds;
            o.MaxQueuedRequests = 1;
        });
        _app = builder.Build();
        BaseAddress = await LoopbackServer.StartAsync(_app);
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await LoopbackServer.StopAsync(_app);
    }

    private sealed class CapturingLoggerProvider(ConcurrentQueue<(string, LogLevel, Exception?, string)> log) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, log);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, ConcurrentQueue<(string, LogLevel, Exception?, string)> log) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                log.Enqueue((category, logLevel, exception, formatter(state, exception)));
        }
    }
}

/// <summary>
/// Regression tests of the server's request parsing, error handling and limits (issue 14's defects): each refusal is a
/// 4xx OpenAI error object, logged as a client error (Information, no stack trace), never a 500.
/// </summary>
public sealed class OpenAIServerLimitsTests(LimitedServerFixture server) : IClassFixture<LimitedServerFixture>
{
    private const string Chat = "v1/chat/completions";

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFE })]                  // invalid UTF-8 inside a string
    [InlineData(new byte[] { (byte)'\\', (byte)'u', (byte)'d', (byte)'8', (byte)'0', (byte)'0' })] // a lone surrogate escape
    public async Task InvalidUtf8OrALoneSurrogateInTheBody_Is400InvalidJson(byte[] inside)
    {
        var body = new List<byte>();
        body.AddRange("""{"messages":[{"role":"user","content":"Once """u8.ToArray());
        body.AddRange(inside);
        body.AddRange(""" upon"}],"max_tokens":2}"""u8.ToArray());
        var marker = Mark();
        using var response = await server.Http.SendAsync(Post(Chat, body.ToArray()));
        using var json = await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_json");
        AssertNoServerErrorLogged(marker);
    }

    [Fact]
    public async Task AStalledBody_Is408_LoggedAsAClientError()
    {
        var marker = Mark();
        var (status, _) = await RawAsync("{\"messages\"", contentLength: 100);
        Assert.Equal(408, status);
        AssertNoServerErrorLogged(marker);
        Assert.Contains(server.Log.Skip(marker), e => e.Level == LogLevel.Information && e.Message.Contains("408", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithoutMaxTokens_APromptThatFitsIsAnswered()
    {
        // The implicit default answer lengths (chat 512, completions 16) exceed the context left: such prompts were refused.
        using var chat = await server.Http.SendAsync(Post(Chat, """{"messages":[{"role":"user","content":"Once upon a time"}],"temperature":0}"""));
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        using (var json = JsonDocument.Parse(await chat.Content.ReadAsStringAsync()))
            Assert.InRange(json.RootElement.GetProperty("usage").GetProperty("total_tokens").GetInt32(), 2, LimitedServerFixture.ContextSize);

        string prompt = string.Concat(Enumerable.Repeat("Once upon a time there was ", 9));
        using var completion = await server.Http.SendAsync(Post("v1/completions", $$"""{"prompt":"{{prompt}}","temperature":0}"""));
        string text = await completion.Content.ReadAsStringAsync();
        Assert.True(completion.StatusCode == HttpStatusCode.OK, text);
        using (var json = JsonDocument.Parse(text))
        {
            var usage = json.RootElement.GetProperty("usage");
            int promptTokens = usage.GetProperty("prompt_tokens").GetInt32();
            Assert.InRange(promptTokens, LimitedServerFixture.ContextSize - 15, LimitedServerFixture.ContextSize - 1); // the default 16 does not fit
            Assert.InRange(usage.GetProperty("total_tokens").GetInt32(), promptTokens + 1, LimitedServerFixture.ContextSize);
        }
    }

    [Fact]
    public async Task AContextOverflow_Is400NamingTheFieldAndCtxSize_WithoutAnErrorLog()
    {
        var marker = Mark();
        using var chat = await server.Http.SendAsync(Post(Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":64}"""));
        using var json = await AssertErrorAsync(chat, HttpStatusCode.BadRequest, "context_length_exceeded");
        string message = json.RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains("'max_tokens'", message);
        Assert.Contains("--ctx-size", message);
        Assert.DoesNotContain("MaxOutputTokens", message);
        Assert.DoesNotContain("ContextOverflow", message);

        using var completion = await server.Http.SendAsync(Post("v1/completions", """{"prompt":"Once upon a time","max_tokens":64}"""));
        using var json2 = await AssertErrorAsync(completion, HttpStatusCode.BadRequest, "context_length_exceeded");
        Assert.Equal("max_tokens", json2.RootElement.GetProperty("error").GetProperty("param").GetString());
        Assert.Contains("--ctx-size", json2.RootElement.GetProperty("error").GetProperty("message").GetString());
        AssertNoServerErrorLogged(marker);
    }

    [Fact]
    public async Task GetOnAPostRoute_Is405WithAllow()
    {
        using var response = await server.Http.GetAsync(new Uri(server.BaseAddress, Chat));
        await AssertErrorAsync(response, HttpStatusCode.MethodNotAllowed, "method_not_allowed");
        Assert.Contains("POST", response.Content.Headers.Allow);
        using var unknown = await server.Http.GetAsync(new Uri(server.BaseAddress, "v1/nothing"));
        await AssertErrorAsync(unknown, HttpStatusCode.NotFound, "unknown_url");
    }

    [Fact]
    public async Task ASeedUpTo2Pow64Minus1IsAccepted_AsTheSame64Bits()
    {
        const string body = """{"prompt":"Once upon a time","max_tokens":12,"temperature":1,"seed":%SEED%}""";
        async Task<string> TextAsync(string seed)
        {
            using var r = await server.Http.SendAsync(Post("v1/completions", body.Replace("%SEED%", seed)));
            string text = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode == HttpStatusCode.OK, text);
            using var json = JsonDocument.Parse(text);
            return json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
        }
        Assert.Equal(await TextAsync("-1"), await TextAsync("18446744073709551615"));
        using var tooLarge = await server.Http.SendAsync(Post("v1/completions", body.Replace("%SEED%", "18446744073709551616")));
        await AssertErrorAsync(tooLarge, HttpStatusCode.BadRequest, "invalid_type");
    }

    [Theory]
    [InlineData(Chat, """{"messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":3,"stream":true%OPT%}""")]
    [InlineData("v1/completions", """{"prompt":"Once upon a time","max_tokens":3,"stream":true%OPT%}""")]
    public async Task StreamedUsageIsSentOnlyWhenIncludeUsageAsks(string path, string body)
    {
        var plain = await EventsAsync(path, body.Replace("%OPT%", ""));
        Assert.All(plain, e => Assert.False(e.RootElement.TryGetProperty("usage", out _), e.RootElement.ToString()));

        var asked = await EventsAsync(path, body.Replace("%OPT%", ",\"stream_options\":{\"include_usage\":true}"));
        var last = asked[^1].RootElement;
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        Assert.Equal(3, last.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Single(asked, e => e.RootElement.TryGetProperty("usage", out _));
    }

    [Fact]
    public async Task RequestsBeyondTheQueueBound_Get429WithRetryAfter()
    {
        // One session and one queued request: two stalled bodies fill the server, so a third request is refused at once.
        var stalled = new[] { RawAsync("{\"messages\"", contentLength: 100), RawAsync("{\"messages\"", contentLength: 100) };
        await Task.Delay(1000);
        var marker = Mark();
        using var refused = await server.Http.SendAsync(Post(Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}"""u8.ToArray()));
        await AssertErrorAsync(refused, HttpStatusCode.TooManyRequests, "too_many_requests");
        Assert.NotNull(refused.Headers.RetryAfter);
        foreach (var s in stalled) Assert.Equal(408, (await s).Status);
        AssertNoServerErrorLogged(marker);

        // The slots are free again.
        using var after = await server.Http.SendAsync(Post(Chat, """{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}"""u8.ToArray()));
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task ARequestPastTheGenerationTimeout_Is504()
    {
        // A body trickled at 1000 bytes/s (above Kestrel's minimum rate, 240) keeps the request alive past the timeout.
        var watch = Stopwatch.StartNew();
        var (status, response) = await RawAsync("""{"messages":[{"role":"user","content":"hi"}]""" + new string(' ', 30_000), contentLength: 40_000, trickle: true);
        Assert.True(status == 504, response);
        Assert.Contains("generation_timeout", response);
        Assert.InRange(watch.Elapsed.TotalSeconds, LimitedServerFixture.TimeoutSeconds - 0.5, 30);
    }

    // ------------------------------------------------------------------ helpers

    private int Mark() => server.Log.Count;

    private void AssertNoServerErrorLogged(int marker)
    {
        var bad = server.Log.Skip(marker).Where(e => e.Level >= LogLevel.Warning || e.Exception is not null).ToList();
        Assert.True(bad.Count == 0, string.Join("\n", bad.Select(e => $"{e.Level} {e.Category}: {e.Message} {e.Exception}")));
    }

    private async Task<List<JsonDocument>> EventsAsync(string path, string body)
    {
        using var response = await server.Http.SendAsync(Post(path, Encoding.UTF8.GetBytes(body)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string[] events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        return events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..])).ToList();
    }

    private HttpRequestMessage Post(string path, string json) => Post(path, Encoding.UTF8.GetBytes(json));

    private HttpRequestMessage Post(string path, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.BaseAddress, path)) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", LimitedServerFixture.ApiKey);
        return request;
    }

    /// <summary>
    /// A chat request over a raw socket declaring <paramref name="contentLength"/> bytes but sending only
    /// <paramref name="sent"/> (all at once, or 100 bytes every 100 ms); returns the status and the whole response.
    /// </summary>
    private async Task<(int Status, string Response)> RawAsync(string sent, int contentLength, bool trickle = false)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, server.Port);
        var stream = client.GetStream();
        string head = $"POST /{Chat} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {LimitedServerFixture.ApiKey}\r\n" +
                      $"Content-Type: application/json\r\nContent-Length: {contentLength}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var reading = ReadAllAsync(stream, cts.Token);
        byte[] body = Encoding.UTF8.GetBytes(sent);
        if (!trickle) await stream.WriteAsync(body);
        else
        {
            for (int at = 0; at < body.Length; at += 100)
            {
                if (reading.IsCompleted) break;
                try
                {
                    await stream.WriteAsync(body.AsMemory(at, Math.Min(100, body.Length - at)));
                }
                catch (IOException)
                {
                    break; // the server answered and closed
                }
                await Task.Delay(100);
            }
        }
        string response = await reading;
        int space = response.IndexOf(' ');
        Assert.True(space > 0, $"no HTTP response: '{response}'");
        return (int.Parse(response.AsSpan(space + 1, 3)), response);
    }

    private static async Task<string> ReadAllAsync(NetworkStream stream, CancellationToken ct)
    {
        var all = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, ct)) > 0)
            {
                all.Write(buffer, 0, n);
                string text = Encoding.UTF8.GetString(all.GetBuffer(), 0, (int)all.Length);
                int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end > 0)
                {
                    var match = System.Text.RegularExpressions.Regex.Match(text, @"Content-Length: (\d+)", System.Text.RegularExpressions.RegexOptions.IgnoreCase);
                    if (match.Success && all.Length >= end + 4 + int.Parse(match.Groups[1].Value)) break;
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The server closed the connection (or the 30 s guard ran out); what was read is the answer.
        }
        return Encoding.UTF8.GetString(all.GetBuffer(), 0, (int)all.Length);
    }

    private static async Task<JsonDocument> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var json = JsonDocument.Parse(body);
        Assert.Equal(code, json.RootElement.GetProperty("error").GetProperty("code").GetString());
        return json;
    }
}
