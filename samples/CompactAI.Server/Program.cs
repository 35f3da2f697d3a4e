// CompactAI.Server: an OpenAI-compatible HTTP server over a local GGUF model.
//   dotnet run --project samples/CompactAI.Server -- --model ../shared/models/stories260K.gguf --urls http://127.0.0.1:8080 [--api-key KEY] [--lora ADAPTER.gguf[,…]]
using CompactAI.Hosting;
using CompactAI.Server;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddCommandLine(args, new Dictionary<string, string>
{
    ["--model"] = $"{CompactAIOptions.SectionName}:{nameof(CompactAIOptions.ModelPath)}",
    ["--threads"] = $"{CompactAIOptions.SectionName}:Model:{nameof(CompactAI.CompactModelOptions.Threads)}",
    ["--ctx-size"] = $"{CompactAIOptions.SectionName}:Model:{nameof(CompactAI.CompactModelOptions.ContextSize)}",
    ["--parallel"] = $"{CompactAIOptions.SectionName}:Model:{nameof(CompactAI.CompactModelOptions.MaxParallelSequences)}",
    ["--model-id"] = $"{CompactAIOptions.SectionName}:Chat:{nameof(CompactAI.Chat.CompactChatClientOptions.ModelId)}",
    ["--api-key"] = $"{OpenAIServerOptions.SectionName}:{nameof(OpenAIServerOptions.ApiKey)}",
    ["--timeout"] = $"{OpenAIServerOptions.SectionName}:{nameof(OpenAIServerOptions.GenerationTimeoutSeconds)}",
    ["--max-queue"] = $"{OpenAIServerOptions.SectionName}:{nameof(OpenAIServerOptions.MaxQueuedRequests)}",
    ["--lora"] = $"{OpenAIServerOptions.SectionName}:{nameof(OpenAIServerOptions.Lora)}",
    ["--urls"] = "urls",
});
// Loopback only unless told otherwise (--urls, ASPNETCORE_URLS or the "urls" setting).
if (string.IsNullOrEmpty(builder.Configuration["urls"])) builder.WebHost.UseUrls("http://127.0.0.1:8080");

// No UseLogging in the chat pipeline: it logs every exception at Error, refusals included (a conversation longer than
// the context); the endpoints log refusals as client errors and failures at Error themselves.
builder.Services.AddCompactAI(builder.Configuration.GetSection(CompactAIOptions.SectionName));
builder.Services.AddOptions<OpenAIServerOptions>().Bind(builder.Configuration.GetSection(OpenAIServerOptions.SectionName)).ValidateOnStart();
builder.Services.AddSingleton<IValidateOptions<OpenAIServerOptions>, OpenAIServerOptionsValidator>();

var app = builder.Build();
OpenAIEndpoints.Map(app);
try
{
    await app.RunAsync();
    return 0;
}
catch (OptionsValidationException e)
{
    Console.Error.WriteLine($"compactai-server: invalid configuration: {e.Message}");
    return 2;
}
