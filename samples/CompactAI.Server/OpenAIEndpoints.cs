using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using CompactAI.Hosting;
using CompactAI.Inference;
using CompactAI.Sampling;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

namespace CompactAI.Server;

/// <summary>
/// The OpenAI-compatible HTTP surface over the services <c>AddCompactAI</c> registers: <c>POST /v1/chat/completions</c>
/// (JSON or SSE), <c>POST /v1/completions</c> (raw prompt), <c>POST /v1/embeddings</c>, <c>GET /v1/models</c>,
/// <c>GET /v1/models/{id}</c> and <c>GET /health</c>. Every refusal is an OpenAI error object
/// <c>{"error":{"message","type","param","code"}}</c> with a 4xx status.
/// </summary>
/// <remarks>
/// Requests run on the model's bounded session pool, so at most <c>MaxParallelSequences</c> generate at once and the rest
/// queue. The server runs one model and answers whatever <c>model</c> a request names.
/// </remarks>
public static class OpenAIEndpoints
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // JSON bodies, never HTML
    };

    /// <summary>Maps the endpoints (options from <see cref="IOptions{OpenAIServerOptions}"/>, defaults when none are registered).</summary>
    public static IEndpointRouteBuilder Map(IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/health", Health);
        var v1 = app.MapGroup("/v1");
        v1.MapPost("/chat/completions", Guarded(ChatCompletionsAsync));
        v1.MapPost("/completions", Guarded(CompletionsAsync));
        v1.MapPost("/embeddings", Guarded(EmbeddingsAsync));
        v1.MapGet("/models", Guarded(ModelsAsync));
        v1.MapGet("/models/{id}", Guarded(ModelAsync));
        app.MapFallback("{*path}", ctx => WriteErrorAsync(ctx,
            new OpenAIException(StatusCodes.Status404NotFound, $"Unknown route {ctx.Request.Method} {ctx.Request.Path}.", "invalid_request_error", "unknown_url")));
        return app;
    }

    // ------------------------------------------------------------------ endpoints

    private static Task Health(HttpContext ctx)
    {
        var provider = ctx.RequestServices.GetRequiredService<CompactModelProvider>();
        return WriteJsonAsync(ctx, 200, new { status = provider.IsLoaded ? "ok" : "loading", model = ModelId(ctx) });
    }

    private static async Task ChatCompletionsAsync(HttpContext ctx, OpenAIServerOptions options)
    {
        using var body = await ReadJsonAsync(ctx, options);
        var root = body.RootElement;
        var request = SamplingRequest.Parse(root, MaxTokensLimit(ctx, options));
        var messages = ChatMessagesParser.Parse(root);
        var chat = ctx.RequestServices.GetRequiredService<IChatClient>();
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string model = ModelId(ctx);

        if (!request.Stream)
        {
            var response = await chat.GetResponseAsync(messages, request.ToChatOptions(), ctx.RequestAborted);
            await WriteJsonAsync(ctx, 200, new
            {
                id,
                @object = "chat.completion",
                created,
                model,
                choices = new[]
                {
                    new { index = 0, message = new { role = "assistant", content = response.Text }, logprobs = (object?)null, finish_reason = Finish(response.FinishReason) },
                },
                usage = Usage(response.Usage),
            });
            return;
        }

        // Streaming: the first update decides success, so errors before it are still JSON error responses.
        await using var updates = chat.GetStreamingResponseAsync(messages, request.ToChatOptions(), ctx.RequestAborted).GetAsyncEnumerator(ctx.RequestAborted);
        bool more = await updates.MoveNextAsync();
        StartEventStream(ctx);
        await WriteEventAsync(ctx, ChatChunk(id, created, model, new { role = "assistant", content = "" }, null));
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        for (; more; more = await updates.MoveNextAsync())
        {
            var update = updates.Current;
            finish = update.FinishReason ?? finish;
            foreach (var c in update.Contents) if (c is UsageContent u) usage = u.Details;
            string text = update.Text;
            if (text.Length > 0) await WriteEventAsync(ctx, ChatChunk(id, created, model, new { content = text }, null));
        }
        if (request.IncludeUsage)
        {
            await WriteEventAsync(ctx, ChatChunk(id, created, model, new { }, Finish(finish)));
            await WriteEventAsync(ctx, new { id, @object = "chat.completion.chunk", created, model, choices = Array.Empty<object>(), usage = Usage(usage) });
        }
        else
        {
            // Without stream_options.include_usage the usage rides on the last chunk (as llama.cpp's server does).
            await WriteEventAsync(ctx, new
            {
                id, @object = "chat.completion.chunk", created, model,
                choices = new[] { new { index = 0, delta = new { }, logprobs = (object?)null, finish_reason = Finish(finish) } },
                usage = Usage(usage),
            });
        }
        await WriteDoneAsync(ctx);
    }

    private static async Task CompletionsAsync(HttpContext ctx, OpenAIServerOptions options)
    {
        using var body = await ReadJsonAsync(ctx, options);
        var root = body.RootElement;
        var request = SamplingRequest.Parse(root, MaxTokensLimit(ctx, options));
        string prompt = PromptOf(root);
        var model = ctx.RequestServices.GetRequiredService<CompactModel>();
        int maxTokens = request.MaxTokens ?? Math.Min(options.DefaultCompletionTokens, MaxTokensLimit(ctx, options));
        var tokens = model.Tokenizer.Encode(prompt, addSpecial: true);
        if (tokens.Count == 0) throw OpenAIException.Invalid("'prompt' has no tokens.", "prompt");
        if (tokens.Count + maxTokens > model.Sessions.ContextSize)
            throw OpenAIException.Invalid($"The prompt has {tokens.Count} tokens and max_tokens is {maxTokens}, but the context holds {model.Sessions.ContextSize}.",
                "prompt", "context_length_exceeded");
        var generation = new GenerationOptions
        {
            MaxTokens = maxTokens,
            Sampling = Sampling(request),
            StopSequences = request.Stop,
        };
        string id = "cmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string modelId = ModelId(ctx);
        var text = new StringBuilder();
        int generated = 0;
        using var lease = await model.Sessions.RentAsync(tokens, ctx.RequestAborted);
        if (request.Stream) StartEventStream(ctx);
        await foreach (var token in lease.Session.GenerateAsync(tokens, generation, ctx.RequestAborted))
        {
            generated++;
            if (request.Stream)
                await WriteEventAsync(ctx, new { id, @object = "text_completion", created, model = modelId, choices = new[] { new { text = token.Text, index = 0, logprobs = (object?)null, finish_reason = (string?)null } } });
            else
                text.Append(token.Text);
        }
        string finish = generated >= maxTokens ? "length" : "stop";
        var usage = new { prompt_tokens = tokens.Count, completion_tokens = generated, total_tokens = tokens.Count + generated };
        if (request.Stream)
        {
            await WriteEventAsync(ctx, new { id, @object = "text_completion", created, model = modelId, choices = new[] { new { text = "", index = 0, logprobs = (object?)null, finish_reason = (string?)finish } }, usage });
            await WriteDoneAsync(ctx);
            return;
        }
        await WriteJsonAsync(ctx, 200, new
        {
            id, @object = "text_completion", created, model = modelId,
            choices = new[] { new { text = text.ToString(), index = 0, logprobs = (object?)null, finish_reason = finish } },
            usage,
        });
    }

    private static async Task EmbeddingsAsync(HttpContext ctx, OpenAIServerOptions options)
    {
        using var body = await ReadJsonAsync(ctx, options);
        var root = body.RootElement;
        var inputs = InputsOf(root);
        string format = Json.String(root, "encoding_format") ?? "float";
        if (format is not ("float" or "base64")) throw OpenAIException.Invalid($"'encoding_format' must be 'float' or 'base64' (got '{format}').", "encoding_format");
        var generator = ctx.RequestServices.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();
        int dimensions = generator.GetService<EmbeddingGeneratorMetadata>()?.DefaultModelDimensions ?? 0;
        if (Json.Int(root, "dimensions", 1, int.MaxValue) is { } asked && asked != dimensions)
            throw OpenAIException.Invalid($"This model's embeddings have {dimensions} dimensions; 'dimensions' = {asked} is not supported.", "dimensions");
        GeneratedEmbeddings<Embedding<float>> result;
        try
        {
            result = await generator.GenerateAsync(inputs, cancellationToken: ctx.RequestAborted);
        }
        catch (ArgumentException e)
        {
            throw OpenAIException.Invalid(e.Message.Split(" (Parameter", 2)[0], "input");
        }
        long promptTokens = result.Usage?.InputTokenCount ?? 0;
        await WriteJsonAsync(ctx, 200, new
        {
            @object = "list",
            data = result.Select((e, i) => new
            {
                @object = "embedding",
                index = i,
                embedding = format == "base64" ? (object)Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(e.Vector.Span)) : e.Vector.ToArray(),
            }).ToArray(),
            model = ModelId(ctx),
            usage = new { prompt_tokens = promptTokens, total_tokens = promptTokens },
        });
    }

    private static Task ModelsAsync(HttpContext ctx, OpenAIServerOptions options) =>
        WriteJsonAsync(ctx, 200, new { @object = "list", data = new[] { ModelCard(ctx) } });

    private static Task ModelAsync(HttpContext ctx, OpenAIServerOptions options)
    {
        string? id = ctx.Request.RouteValues["id"] as string;
        if (id != ModelId(ctx))
            throw new OpenAIException(StatusCodes.Status404NotFound, $"The model '{id}' does not exist; this server runs '{ModelId(ctx)}'.", "invalid_request_error", "model_not_found", "model");
        return WriteJsonAsync(ctx, 200, ModelCard(ctx));
    }

    // ------------------------------------------------------------------ request plumbing

    /// <summary>Wraps a handler with the API-key check and the mapping of failures onto OpenAI error responses.</summary>
    private static RequestDelegate Guarded(Func<HttpContext, OpenAIServerOptions, Task> handler) => async ctx =>
    {
        var options = ctx.RequestServices.GetService<IOptions<OpenAIServerOptions>>()?.Value ?? new OpenAIServerOptions();
        try
        {
            CheckApiKey(ctx, options);
            await handler(ctx, options);
        }
        catch (OpenAIException e) when (!ctx.Response.HasStarted)
        {
            await WriteErrorAsync(ctx, e);
        }
        catch (InvalidOperationException e) when (!ctx.Response.HasStarted && e.Message.Contains("context", StringComparison.OrdinalIgnoreCase))
        {
            // CompactChatClient refuses, before generating, conversations that do not fit the context window (the message gives the sizes).
            await WriteErrorAsync(ctx, OpenAIException.Invalid(e.Message, "messages", "context_length_exceeded"));
        }
        catch (EncoderOnlyModelException e) when (!ctx.Response.HasStarted)
        {
            // An embedding model (bert) was asked for text: only /v1/embeddings serves it.
            await WriteErrorAsync(ctx, OpenAIException.Invalid(e.Message, "model", "model_not_supported"));
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away.
        }
        catch (Exception e) when (e is not OpenAIException)
        {
            var logger = ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OpenAIEndpoints));
            logger.LogError(e, "Request {Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
            var error = new OpenAIException(StatusCodes.Status500InternalServerError, "The server failed to answer the request.", "server_error", "internal_error");
            if (!ctx.Response.HasStarted) await WriteErrorAsync(ctx, error);
            else if (ctx.Response.ContentType == "text/event-stream") await WriteEventAsync(ctx, error.ToBody());
        }
    };

    private static void CheckApiKey(HttpContext ctx, OpenAIServerOptions options)
    {
        if (string.IsNullOrEmpty(options.ApiKey)) return;
        string header = ctx.Request.Headers.Authorization.ToString();
        string? given = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
        if (given is null || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(options.ApiKey)))
            throw new OpenAIException(StatusCodes.Status401Unauthorized,
                given is null ? "Missing API key: send 'Authorization: Bearer <key>'." : "Incorrect API key provided.",
                "invalid_request_error", "invalid_api_key");
    }

    /// <summary>Reads the body as JSON, refusing more than <see cref="OpenAIServerOptions.MaxRequestBodyBytes"/> (413) and malformed JSON (400).</summary>
    private static async Task<JsonDocument> ReadJsonAsync(HttpContext ctx, OpenAIServerOptions options)
    {
        long limit = options.MaxRequestBodyBytes;
        if (ctx.Request.ContentLength > limit) throw TooLarge(ctx.Request.ContentLength.Value, limit);
        var sizeFeature = ctx.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false } && sizeFeature.MaxRequestBodySize < limit + 1) sizeFeature.MaxRequestBodySize = limit + 1;
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit) throw TooLarge(buffer.Length + read, limit);
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0) throw OpenAIException.Invalid("The request body is empty; send a JSON object.", null, "invalid_json");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
        }
        catch (JsonException e)
        {
            throw OpenAIException.Invalid($"The request body is not valid JSON: {e.Message}", null, "invalid_json");
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw OpenAIException.Invalid("The request body must be a JSON object.", null, "invalid_json");
        }
        return doc;
    }

    private static OpenAIException TooLarge(long size, long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, $"The request body has at least {size} bytes; the limit is {limit}.", "invalid_request_error", "request_too_large");

    private static int MaxTokensLimit(HttpContext ctx, OpenAIServerOptions options) =>
        options.MaxTokensLimit ?? ctx.RequestServices.GetRequiredService<CompactModel>().Sessions.ContextSize;

    private static string PromptOf(JsonElement root)
    {
        if (!root.TryGetProperty("prompt", out var p) || p.ValueKind == JsonValueKind.Null)
            throw OpenAIException.Invalid("'prompt' is required.", "prompt", "missing_required_parameter");
        if (p.ValueKind == JsonValueKind.String) return p.GetString()!;
        if (p.ValueKind == JsonValueKind.Array && p.GetArrayLength() == 1 && p[0].ValueKind == JsonValueKind.String) return p[0].GetString()!;
        throw OpenAIException.Invalid("'prompt' must be a string (or an array of one string).", "prompt", "invalid_type");
    }

    private static List<string> InputsOf(JsonElement root)
    {
        if (!root.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
            throw OpenAIException.Invalid("'input' is required.", "input", "missing_required_parameter");
        var inputs = Json.StringOrStrings(root, "input", 2048).ToList();
        if (inputs.Count == 0) throw OpenAIException.Invalid("'input' must not be empty.", "input");
        if (inputs.Any(s => s.Length == 0)) throw OpenAIException.Invalid("'input' must not contain empty strings.", "input");
        return inputs;
    }

    private static SamplingOptions Sampling(SamplingRequest r)
    {
        var d = new SamplingOptions();
        return new SamplingOptions
        {
            Temperature = r.Temperature ?? d.Temperature,
            TopP = r.TopP ?? d.TopP,
            TopK = r.TopK ?? d.TopK,
            MinP = r.MinP ?? d.MinP,
            RepeatPenalty = r.RepeatPenalty ?? d.RepeatPenalty,
            FrequencyPenalty = r.FrequencyPenalty ?? 0,
            PresencePenalty = r.PresencePenalty ?? 0,
            Seed = r.Seed is long seed ? unchecked((ulong)seed) : null,
        };
    }

    private static string ModelId(HttpContext ctx) =>
        ctx.RequestServices.GetRequiredService<IChatClient>().GetService<ChatClientMetadata>()?.DefaultModelId ?? "compactai";

    private static object ModelCard(HttpContext ctx)
    {
        var model = ctx.RequestServices.GetRequiredService<CompactModel>();
        long created = model.FilePath is { } path ? new DateTimeOffset(File.GetLastWriteTimeUtc(path)).ToUnixTimeSeconds() : 0;
        return new { id = ModelId(ctx), @object = "model", created, owned_by = "compactai", architecture = model.Config.Architecture, context_length = model.Sessions.ContextSize };
    }

    private static string Finish(ChatFinishReason? reason) => reason == ChatFinishReason.Length ? "length" : "stop";

    private static object Usage(UsageDetails? usage)
    {
        long prompt = usage?.InputTokenCount ?? 0, completion = usage?.OutputTokenCount ?? 0;
        return new { prompt_tokens = prompt, completion_tokens = completion, total_tokens = usage?.TotalTokenCount ?? prompt + completion };
    }

    private static object ChatChunk(string id, long created, string model, object delta, string? finishReason) => new
    {
        id, @object = "chat.completion.chunk", created, model,
        choices = new[] { new { index = 0, delta, logprobs = (object?)null, finish_reason = finishReason } },
    };

    // ------------------------------------------------------------------ response writing

    private static Task WriteJsonAsync(HttpContext ctx, int status, object body)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(body, s_json), ctx.RequestAborted);
    }

    private static Task WriteErrorAsync(HttpContext ctx, OpenAIException error)
    {
        if (error.StatusCode == StatusCodes.Status401Unauthorized) ctx.Response.Headers.WWWAuthenticate = "Bearer";
        return WriteJsonAsync(ctx, error.StatusCode, error.ToBody());
    }

    private static void StartEventStream(HttpContext ctx)
    {
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "text/event-stream";
        ctx.Response.Headers.CacheControl = "no-cache";
        ctx.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    private static async Task WriteEventAsync(HttpContext ctx, object data)
    {
        await ctx.Response.WriteAsync("data: " + JsonSerializer.Serialize(data, s_json) + "\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }

    private static async Task WriteDoneAsync(HttpContext ctx)
    {
        await ctx.Response.WriteAsync("data: [DONE]\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }
}
