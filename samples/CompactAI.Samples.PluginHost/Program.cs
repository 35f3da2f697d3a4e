// A generic host composing CompactAI (the model and IChatClient) with a plugin (the story writer), run once.
//   dotnet run --project samples/CompactAI.Samples.PluginHost -- [--model PATH] [--topic TEXT]
// Settings can also come from configuration: CompactAI__ModelPath=... or appsettings.json's "CompactAI" section.
using CompactAI.Hosting;
using CompactAI.Samples;
using CompactAI.Samples.Plugin;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning).AddFilter("CompactAI", LogLevel.Information);
builder.Configuration[$"{CompactAIOptions.SectionName}:{nameof(CompactAIOptions.ModelPath)}"] ??= SampleModel.Resolve(args);

builder.Services.AddCompactAI(builder.Configuration.GetSection(CompactAIOptions.SectionName));
builder.Services.AddStoryWriter(o => o.MaxTokens = 64);

using var host = builder.Build();
await host.StartAsync(); // validates the options and loads the model
try
{
    string topic = SampleModel.Option(args, "--topic") ?? "a dragon who is afraid of the dark";
    var writer = host.Services.GetRequiredService<StoryWriter>();
    Console.WriteLine(await writer.WriteAsync(topic));
}
finally
{
    await host.StopAsync();
}
