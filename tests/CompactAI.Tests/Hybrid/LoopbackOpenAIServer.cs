using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CompactAI.Tests.Hybrid;

/// <summary>
/// A real HTTP server on 127.0.0.1 (Kestrel, ephemeral port) speaking the OpenAI chat-completions wire format, with
/// switchable behaviour for fault tests: good JSON or SSE replies, error statuses, malformed bodies, slow replies and
/// connections dropped mid-reply.
/// </summary>
public sealed class LoopbackOpenAIServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<TimeSpan> _arrivals = [];
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private int _requests;

    private LoopbackOpenAIServer(WebApplication app, Uri endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    public enum Behavior
    {
        Good,
        Status500,
        Status429,
        MalformedJson,
        Slow,
        DropMidway,

        /// <summary>A stream whose first event is the role-only chunk (as llama-server sends), then the connection is cut.</summary>
        RoleThenDrop,

        /// <summary>A stream whose first event is the role-only chunk, then nothing for a minute.</summary>
        RoleThenStall,
    }

    /// <summary>Base address for the OpenAI client (ends in /v1).</summary>
    public Uri Endpoint { get; }

    public int RequestCount => Volatile.Read(ref _requests);

    public Behavior Mode { get; set; }

    public string Answer { get; set; } = "The remote answer is 42.";

    public string? LastAuthorization { get; private set; }

    /// <summary>The <c>Retry-After</c> header value sent with a 429, or <see langword="null"/> for none.</summary>
    public string? RetryAfter { get; set; }

    /// <summary>When each request arrived (monotonic), in order.</summary>
    public IReadOnlyList<TimeSpan> Arrivals { get { lock (_arrivals) { return [.. _arrivals]; } } }

    /// <summary>When set, a dropped stream waits for it after the first chunk (so the client surely read that chunk).</summary>
    public TaskCompletionSource? DropSignal { get; set; }

    public static async Task<LoopbackOpenAIServer> StartAsync(Behavior mode)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        WebApplication app = builder.Build();
        LoopbackOpenAIServer? server = null;
        app.Run(context => server!.HandleAsync(context));
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server = new LoopbackOpenAIServer(app, new Uri(address.TrimEnd('/') + "/v1")) { Mode = mode };
        return server;
    }

    /// <summary>A port nothing listens on: bound, read, then released.</summary>
    public static Uri ClosedEndpoint()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new Uri($"http://127.0.0.1:{port}/v1");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        lock (_arrivals)
        {
            _arrivals.Add(_clock.Elapsed);
        }

        LastAuthorization = context.Request.Headers.Authorization.ToString();
        using JsonDocument request = await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        bool stream = request.RootElement.TryGetProperty("stream", out JsonElement s) && s.ValueKind == JsonValueKind.True;
        string model = request.RootElement.GetProperty("model").GetString()!;
        switch (Mode)
        {
            case Behavior.Good when stream:
                await WriteStreamAsync(context, model, Answer, dropAfterFirstChunk: false);
                break;
            case Behavior.Good:
                await WriteJsonAsync(context, 200, Completion(model, Answer));
                break;
            case Behavior.Status500:
                await WriteJsonAsync(context, 500, """{"error":{"message":"internal failure","type":"server_error"}}""");
                break;
            case Behavior.Status429:
                if (RetryAfter is not null)
                {
                    context.Response.Headers.RetryAfter = RetryAfter;
                }

                await WriteJsonAsync(context, 429, """{"error":{"message":"rate limit reached","type":"rate_limit_error"}}""");
                break;
            case Behavior.MalformedJson:
                await WriteJsonAsync(context, 200, """{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":""");
                break;
            case Behavior.Slow:
                await Task.Delay(TimeSpan.FromSeconds(60), context.RequestAborted);
                await WriteJsonAsync(context, 200, Completion(model, Answer));
                break;
            case Behavior.DropMidway when stream:
                await WriteStreamAsync(context, model, Answer, dropAfterFirstChunk: true, DropSignal?.Task);
                break;
            case Behavior.RoleThenDrop or Behavior.RoleThenStall when stream:
                context.Response.StatusCode = 200;
                context.Response.ContentType = "text/event-stream";
                await context.Response.WriteAsync($"data: {Chunk(model, "assistant", null, null)}\n\n");
                await context.Response.Body.FlushAsync();
                if (Mode == Behavior.RoleThenStall)
                {
                    await Task.Delay(TimeSpan.FromSeconds(60), context.RequestAborted);
                }
                else
                {
                    await Task.Delay(50, context.RequestAborted);
                }

                context.Abort();
                break;
            case Behavior.DropMidway or Behavior.RoleThenDrop or Behavior.RoleThenStall:
                // Promise a body, send part of it, then cut the connection.
                byte[] body = Encoding.UTF8.GetBytes(Completion(model, Answer));
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = body.Length;
                await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2));
                await context.Response.Body.FlushAsync();
                context.Abort();
                break;
        }
    }

    private static string Completion(string model, string text) => JsonSerializer.Serialize(new
    {
        id = "chatcmpl-loopback",
        @object = "chat.completion",
        created = 1_700_000_000,
        model,
        choices = new[] { new { index = 0, message = new { role = "assistant", content = text }, finish_reason = "stop" } },
        usage = new { prompt_tokens = 11, completion_tokens = 6, total_tokens = 17 },
    });

    private static string Chunk(string model, string? role, string? content, string? finish) => JsonSerializer.Serialize(new
    {
        id = "chatcmpl-loopback",
        @object = "chat.completion.chunk",
        created = 1_700_000_000,
        model,
        choices = new[] { new { index = 0, delta = new { role, content }, finish_reason = finish } },
    });

    private static async Task WriteJsonAsync(HttpContext context, int status, string json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(json);
    }

    private static async Task WriteStreamAsync(HttpContext context, string model, string text, bool dropAfterFirstChunk, Task? dropSignal = null)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream";
        string[] words = text.Split(' ');
        for (int i = 0; i < words.Length; i++)
        {
            string piece = i == 0 ? words[i] : " " + words[i];
            await context.Response.WriteAsync($"data: {Chunk(model, i == 0 ? "assistant" : null, piece, null)}\n\n");
            await context.Response.Body.FlushAsync();
            if (dropAfterFirstChunk)
            {
                await (dropSignal ?? Task.Delay(50)).WaitAsync(TimeSpan.FromSeconds(10));
                context.Abort();
                return;
            }
        }

        await context.Response.WriteAsync($"data: {Chunk(model, null, null, "stop")}\n\n");
        await context.Response.WriteAsync("data: [DONE]\n\n");
    }
}
