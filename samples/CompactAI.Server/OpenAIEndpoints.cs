using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using CompactAI.Chat;
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
        var queue = new RequestQueue(); // one per mapping: the bound on requests waiting for a session
        v1.MapPost("/chat/completions", Guarded(ChatCompletionsAsync, queue));
        v1.MapPost("/completions", Guarded(CompletionsAsync, queue));
        v1.MapPost("/embeddings", Guarded(EmbeddingsAsync, queue));
        v1.MapGet("/models", Guarded(ModelsAsync));
        v1.MapGet("/models/{id}", Guarded(ModelAsync));
        app.MapGet("/lora-adapters", Guarded((ctx, options) =>
            WriteJsonAsync(ctx, 200, ServerLora.List(ServerLora.Loaded(ctx.RequestServices.GetRequiredService<CompactModel>(), options)))));
        app.MapFallback("{*path}", ctx => AllowedMethod(ctx.Request.Path) is { } allowed
            ? WriteMethodNotAllowedAsync(ctx, allowed)
            : WriteErrorAsync(ctx, new OpenAIException(StatusCodes.Status404NotFound, $"Unknown route {ctx.Request.Method} {ctx.Request.Path}.", "invalid_request_error", "unknown_url")));
        return app;
    }

    /// <summary>The method a known route answers (the fallback sees it only when the method was wrong), or null.</summary>
    private static string? AllowedMethod(PathString path)
    {
        string p = (path.Value ?? "").TrimEnd('/');
        if (p is "/v1/chat/completions" or "/v1/completions" or "/v1/embeddings") return "POST";
        if (p is "/v1/models" or "/health" || (p.StartsWith("/v1/models/", StringComparison.Ordinal) && p.IndexOf('/', "/v1/models/".Length) < 0)) return "GET";
        return null;
    }

    private static Task WriteMethodNotAllowedAsync(HttpContext ctx, string allowed)
    {
        ctx.Response.Headers.Allow = allowed;
        return WriteErrorAsync(ctx, new OpenAIException(StatusCodes.Status405MethodNotAllowed,
            $"{ctx.Request.Path} takes {allowed}, not {ctx.Request.Method}.", "invalid_request_error", "method_not_allowed"));
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
        var chatOptions = request.ToChatOptions();
        var features = ChatFeatures.Apply(root, chatOptions);
        var chat = ctx.RequestServices.GetRequiredService<IChatClient>();
        if (features.UsesTools && chat.GetService<Chat.CompactChatClient>() is { SupportsTools: false })
            throw OpenAIException.Invalid("This model's chat template does not support tools: it does not render the 'tools' it is given.", "tools", "tools_not_supported");
        var tokenizer = ctx.RequestServices.GetRequiredService<CompactModel>().Tokenizer;
        var lora = ServerLora.Loaded(ctx.RequestServices.GetRequiredService<CompactModel>(), options);
        if (lora.Count > 0 || root.TryGetProperty("lora", out _)) chatOptions.WithLoraAdapters(ServerLora.ForRequest(root, lora));
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string model = ModelId(ctx);

        if (!request.Stream)
        {
            ChatResponse response;
            try
            {
                response = await chat.GetResponseAsync(messages, chatOptions, ctx.RequestAborted);
            }
            catch (NotSupportedException e)
            {
                throw OpenAIException.Invalid(e.Message, "tools", "unsupported_schema");
            }
            var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
            var message = new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = calls.Count > 0 && response.Text.Length == 0 ? null : response.Text };
            if (calls.Count > 0) message["tool_calls"] = ChatFeatures.ToolCalls(calls, withIndex: false);
            object? logprobs = features.LogProbs && response.AdditionalProperties?.TryGetValue(CompactAIPropertyNames.Tokens, out IReadOnlyList<GeneratedToken>? all) == true && all is not null
                ? ChatFeatures.ChatLogProbs(all, tokenizer, features.TopLogProbs) : null;
            await WriteJsonAsync(ctx, 200, new
            {
                id,
                @object = "chat.completion",
                created,
                model,
                choices = new[]
                {
                    new { index = 0, message, logprobs, finish_reason = Finish(response.FinishReason) },
                },
                usage = Usage(response.Usage),
            });
            return;
        }

        // Streaming: the first update decides success, so errors before it are still JSON error responses.
        await using var updates = chat.GetStreamingResponseAsync(messages, chatOptions, ctx.RequestAborted).GetAsyncEnumerator(ctx.RequestAborted);
        bool more;
        try
        {
            more = await updates.MoveNextAsync();
        }
        catch (NotSupportedException e)
        {
            throw OpenAIException.Invalid(e.Message, "tools", "unsupported_schema");
        }
        StartEventStream(ctx);
        await WriteEventAsync(ctx, ChatChunk(id, created, model, new { role = "assistant", content = "" }, null));
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        int callIndex = 0;
        for (; more; more = await updates.MoveNextAsync())
        {
            var update = updates.Current;
            finish = update.FinishReason ?? finish;
            foreach (var c in update.Contents) if (c is UsageContent u) usage = u.Details;
            string text = update.Text;
            object? logprobs = null;
            if (features.LogProbs && text.Length > 0 && UpdateTokens(update) is { } tokens) logprobs = ChatFeatures.ChatLogProbs(tokens, tokenizer, features.TopLogProbs);
            if (text.Length > 0) await WriteEventAsync(ctx, ChatChunk(id, created, model, new { content = text }, null, logprobs));
            var calls = update.Contents.OfType<FunctionCallContent>().ToList();
            if (calls.Count > 0)
            {
                await WriteEventAsync(ctx, ChatChunk(id, created, model, new { tool_calls = ChatFeatures.ToolCalls(calls, withIndex: true, callIndex) }, null));
                callIndex += calls.Count;
            }
        }
        await WriteEventAsync(ctx, ChatChunk(id, created, model, new { }, Finish(finish)));
        // As OpenAI does: usage only when stream_options.include_usage asks, in a last chunk with no choices.
        if (request.IncludeUsage)
            await WriteEventAsync(ctx, new { id, @object = "chat.completion.chunk", created, model, choices = Array.Empty<object>(), usage = Usage(usage) });
        await WriteDoneAsync(ctx);
    }

    /// <summary>The tokens a streamed update carries: one (<see cref="CompactAIPropertyNames.Token"/>) or, with tools, several.</summary>
    private static IReadOnlyList<GeneratedToken>? UpdateTokens(ChatResponseUpdate update)
    {
        var p = update.AdditionalProperties;
        if (p is null) return null;
        if (p.TryGetValue(CompactAIPropertyNames.Token, out GeneratedToken one)) return [one];
        return p.TryGetValue(CompactAIPropertyNames.UpdateTokens, out GeneratedToken[]? several) ? several : null;
    }

    private static async Task CompletionsAsync(HttpContext ctx, OpenAIServerOptions options)
    {
        using var body = await ReadJsonAsync(ctx, options);
        var root = body.RootElement;
        var request = SamplingRequest.Parse(root, MaxTokensLimit(ctx, options));
        string prompt = PromptOf(root);
        var model = ctx.RequestServices.GetRequiredService<CompactModel>();
        var tokens = model.Tokenizer.Encode(prompt, addSpecial: true);
        if (tokens.Count == 0) throw OpenAIException.Invalid("'prompt' has no tokens.", "prompt");
        int context = model.Sessions.ContextSize;
        // Without max_tokens the default shrinks to the context left, so a prompt that fits is answered.
        int maxTokens = request.MaxTokens ?? Math.Min(options.DefaultCompletionTokens, Math.Max(1, context - tokens.Count));
        if (tokens.Count + maxTokens > context)
            throw OpenAIException.Invalid(request.MaxTokens is null
                    ? $"'prompt' has {tokens.Count} tokens, which leaves no room for an answer in the context of {context} tokens (the server's --ctx-size)."
                    : $"'prompt' has {tokens.Count} tokens and 'max_tokens' is {maxTokens}, more than the context of {context} tokens (the server's --ctx-size) holds.",
                request.MaxTokens is null ? "prompt" : "max_tokens", "context_length_exceeded");
        int? logprobs = Json.Int(root, "logprobs", 0, 5);
        var generation = new GenerationOptions
        {
            MaxTokens = maxTokens,
            Sampling = Sampling(request),
            StopSequences = request.Stop,
            TopLogProbabilities = logprobs ?? 0,
            Adapters = ServerLora.ForRequest(root, ServerLora.Loaded(model, options)),
        };
        string id = "cmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string modelId = ModelId(ctx);
        var text = new StringBuilder();
        int generated = 0;
        var all = new List<GeneratedToken>();
        using var lease = await model.Sessions.RentAsync(tokens, generation.Adapters, ctx.RequestAborted);
        if (request.Stream) StartEventStream(ctx);
        await foreach (var token in lease.Session.GenerateAsync(tokens, generation, ctx.RequestAborted))
        {
            generated++;
            if (request.Stream)
            {
                object? lp = logprobs is { } n ? ChatFeatures.CompletionLogProbs([token], model.Tokenizer, n, text.Length) : null;
                await WriteEventAsync(ctx, new { id, @object = "text_completion", created, model = modelId, choices = new[] { new { text = token.Text, index = 0, logprobs = lp, finish_reason = (string?)null } } });
            }
            else all.Add(token);
            text.Append(token.Text);
        }
        string finish = generated >= maxTokens ? "length" : "stop";
        var usage = new { prompt_tokens = tokens.Count, completion_tokens = generated, total_tokens = tokens.Count + generated };
        if (request.Stream)
        {
            await WriteEventAsync(ctx, new { id, @object = "text_completion", created, model = modelId, choices = new[] { new { text = "", index = 0, logprobs = (object?)null, finish_reason = (string?)finish } } });
            if (request.IncludeUsage) await WriteEventAsync(ctx, new { id, @object = "text_completion", created, model = modelId, choices = Array.Empty<object>(), usage });
            await WriteDoneAsync(ctx);
            return;
        }
        await WriteJsonAsync(ctx, 200, new
        {
            id, @object = "text_completion", created, model = modelId,
            choices = new[] { new { text = text.ToString(), index = 0, logprobs = logprobs is { } top ? ChatFeatures.CompletionLogProbs(all, model.Tokenizer, top, 0) : null, finish_reason = finish } },
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

    /// <summary>
    /// Wraps a handler with the API-key check, the queue bound and generation timeout (when <paramref name="queue"/> is
    /// given), and the mapping of failures onto OpenAI error responses. Refusals (4xx) are logged as client errors at
    /// Information without a stack trace; only failures of the server itself are logged at Error.
    /// </summary>
    private static RequestDelegate Guarded(Func<HttpContext, OpenAIServerOptions, Task> handler, RequestQueue? queue = null) => async ctx =>
    {
        var options = ctx.RequestServices.GetService<IOptions<OpenAIServerOptions>>()?.Value ?? new OpenAIServerOptions();
        var logger = ctx.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(OpenAIEndpoints));
        var clientAborted = ctx.RequestAborted;
        CancellationTokenSource? timeout = null, linked = null;
        bool entered = false;
        try
        {
            CheckApiKey(ctx, options);
            if (queue is not null)
            {
                // Resolving the model waits for it to load; the timeout counts from then.
                int parallel = ctx.RequestServices.GetRequiredService<CompactModel>().Options.MaxParallelSequences;
                entered = queue.TryEnter(parallel + options.MaxQueuedRequests);
                if (!entered)
                {
                    ctx.Response.Headers.RetryAfter = "1";
                    throw new OpenAIException(StatusCodes.Status429TooManyRequests,
                        $"The server is busy: {parallel} requests are running and {options.MaxQueuedRequests} are queued (the server's --parallel and --max-queue). Retry later.",
                        "rate_limit_error", "too_many_requests");
                }
            }
            if (queue is not null && options.GenerationTimeoutSeconds > 0)
            {
                // The handlers observe RequestAborted; the timeout cancels it too.
                timeout = new CancellationTokenSource(TimeSpan.FromSeconds(options.GenerationTimeoutSeconds));
                linked = CancellationTokenSource.CreateLinkedTokenSource(clientAborted, timeout.Token);
                ctx.RequestAborted = linked.Token;
            }
            await handler(ctx, options);
        }
        catch (Exception e) when (e is not OpenAIException && ToClientError(e) is { } refusal)
        {
            await RefuseAsync(ctx, logger, refusal, clientAborted);
        }
        catch (OpenAIException e)
        {
            await RefuseAsync(ctx, logger, e, clientAborted);
        }
        catch (EncoderOnlyModelException e) when (!ctx.Response.HasStarted)
        {
            // An embedding model (bert) was asked for text: only /v1/embeddings serves it.
            await RefuseAsync(ctx, logger, OpenAIException.Invalid(e.Message, "model", "model_not_supported"), clientAborted);
        }
        catch (OperationCanceledException) when (timeout?.IsCancellationRequested == true && !clientAborted.IsCancellationRequested)
        {
            logger.LogWarning("Request {Method} {Path} ran past the generation timeout of {Seconds} s and was cancelled", ctx.Request.Method, ctx.Request.Path, options.GenerationTimeoutSeconds);
            var error = new OpenAIException(StatusCodes.Status504GatewayTimeout,
                $"The request ran past the server's generation timeout of {options.GenerationTimeoutSeconds} s (--timeout).", "server_error", "generation_timeout");
            ctx.RequestAborted = clientAborted;
            if (!ctx.Response.HasStarted) await WriteErrorAsync(ctx, error);
            else if (ctx.Response.ContentType == "text/event-stream") await WriteEventAsync(ctx, error.ToBody());
        }
        catch (OperationCanceledException) when (clientAborted.IsCancellationRequested)
        {
            // The client went away.
        }
        catch (Exception e)
        {
            logger.LogError(e, "Request {Method} {Path} failed", ctx.Request.Method, ctx.Request.Path);
            var error = new OpenAIException(StatusCodes.Status500InternalServerError, "The server failed to answer the request.", "server_error", "internal_error");
            ctx.RequestAborted = clientAborted;
            if (!ctx.Response.HasStarted) await WriteErrorAsync(ctx, error);
            else if (ctx.Response.ContentType == "text/event-stream") await WriteEventAsync(ctx, error.ToBody());
        }
        finally
        {
            ctx.RequestAborted = clientAborted;
            if (entered) queue!.Exit();
            linked?.Dispose();
            timeout?.Dispose();
        }
    };

    /// <summary>The refusal an exception from below the endpoints stands for, or null when it is a failure of the server.</summary>
    private static OpenAIException? ToClientError(Exception e) => e switch
    {
        // Kestrel's own refusals while reading the body: 408 when it stalls below the minimum data rate, 413, 400.
        BadHttpRequestException bad => new OpenAIException(bad.StatusCode,
            bad.StatusCode == StatusCodes.Status408RequestTimeout ? "The request body arrived too slowly or stopped before its Content-Length." : $"Bad request: {bad.Message}",
            "invalid_request_error", bad.StatusCode switch { StatusCodes.Status408RequestTimeout => "request_timeout", StatusCodes.Status413PayloadTooLarge => "request_too_large", _ => "bad_request" }),
        // CompactChatClient refuses, before generating, conversations that do not fit the context window.
        InvalidOperationException io when io.Message.Contains("context", StringComparison.OrdinalIgnoreCase) => OpenAIException.Invalid(ContextMessage(io.Message),
            "messages", "context_length_exceeded"),
        _ => null,
    };

    /// <summary>The refusal in the request's terms: its fields and the server's --ctx-size, not the library's option names.</summary>
    private static string ContextMessage(string message)
    {
        var m = System.Text.RegularExpressions.Regex.Match(message, @"needs (\d+) prompt tokens plus (\d+) for the answer, but the context holds (\d+)");
        string sizes = m.Success ? $"'messages' need {m.Groups[1].Value} tokens and the answer {m.Groups[2].Value} ('max_tokens'), but the context holds {m.Groups[3].Value} (the server's --ctx-size)" : "The conversation does not fit the context (the server's --ctx-size)";
        return $"{sizes}. Shorten 'messages', lower 'max_tokens', or start the server with a larger --ctx-size.";
    }

    private static async Task RefuseAsync(HttpContext ctx, ILogger logger, OpenAIException e, CancellationToken clientAborted)
    {
        logger.LogInformation("Request {Method} {Path} refused: {Status} {Code}: {Message}", ctx.Request.Method, ctx.Request.Path, e.StatusCode, e.Code, e.Message);
        ctx.RequestAborted = clientAborted;
        if (clientAborted.IsCancellationRequested) return;
        try
        {
            if (!ctx.Response.HasStarted) await WriteErrorAsync(ctx, e);
            else if (ctx.Response.ContentType == "text/event-stream") await WriteEventAsync(ctx, e.ToBody());
        }
        catch (Exception write) when (write is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The connection is gone (Kestrel closes it after a stalled body); nothing more can be said.
        }
    }

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
        if (FirstBadString(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)) is { } bad)
        {
            doc.Dispose();
            throw OpenAIException.Invalid($"The request body is not valid JSON: the string at byte {bad} is not valid UTF-8 or holds a lone surrogate escape.", null, "invalid_json");
        }
        return doc;
    }

    /// <summary>
    /// The byte offset of the first string or property name that cannot be read as text (invalid UTF-8, or an escape such
    /// as <c>\ud800</c> that leaves a lone surrogate), or null. JsonDocument accepts both and fails only when the string is
    /// read, deep in the request parsing; checking once here makes every field's text safe to read.
    /// </summary>
    private static long? FirstBadString(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        Span<char> scratch = stackalloc char[256];
        while (reader.Read())
        {
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName)) continue;
            if (!reader.ValueIsEscaped && System.Text.Unicode.Utf8.IsValid(reader.ValueSpan)) continue;
            try
            {
                int length = reader.HasValueSequence ? checked((int)reader.ValueSequence.Length) : reader.ValueSpan.Length;
                if (length <= scratch.Length) reader.CopyString(scratch);
                else _ = reader.GetString();
            }
            catch (InvalidOperationException)
            {
                return reader.TokenStartIndex;
            }
        }
        return null;
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

    private static string Finish(ChatFinishReason? reason) =>
        reason == ChatFinishReason.Length ? "length" : reason == ChatFinishReason.ToolCalls ? "tool_calls" : "stop";

    private static object Usage(UsageDetails? usage)
    {
        long prompt = usage?.InputTokenCount ?? 0, completion = usage?.OutputTokenCount ?? 0;
        return new { prompt_tokens = prompt, completion_tokens = completion, total_tokens = usage?.TotalTokenCount ?? prompt + completion };
    }

    private static object ChatChunk(string id, long created, string model, object delta, string? finishReason, object? logprobs = null) => new
    {
        id, @object = "chat.completion.chunk", created, model,
        choices = new[] { new { index = 0, delta, logprobs, finish_reason = finishReason } },
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
