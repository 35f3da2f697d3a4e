using CompactAI;
using CompactAI.Chat;
using CompactAI.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers a local CompactAI model and the Microsoft.Extensions.AI services over it.</summary>
public static class CompactAIServiceCollectionExtensions
{
    /// <summary>
    /// Registers, as singletons sharing one model: <see cref="CompactModelProvider"/>, <see cref="CompactModel"/>,
    /// <see cref="IChatClient"/> (a <see cref="CompactChatClient"/> built through a <see cref="ChatClientBuilder"/>) and
    /// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> of strings (a <see cref="CompactEmbeddingGenerator"/>).
    /// Options are validated when the host starts (or on first resolution without a host).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options (at least <see cref="CompactAIOptions.ModelPath"/>).</param>
    /// <param name="configureChatClient">Adds middleware to the chat pipeline, e.g. <c>b =&gt; b.UseLogging().UseOpenTelemetry()</c>.</param>
    /// <example>
    /// <code>
    /// builder.Services.AddCompactAI(o =&gt; o.ModelPath = "models/stories260K.gguf", chat =&gt; chat.UseLogging());
    /// </code>
    /// </example>
    public static IServiceCollection AddCompactAI(this IServiceCollection services, Action<CompactAIOptions> configure,
        Action<ChatClientBuilder>? configureChatClient = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<CompactAIOptions>().Configure(configure).ValidateOnStart();
        return AddCore(services, configureChatClient);
    }

    /// <summary>
    /// Registers the CompactAI services (see <see cref="AddCompactAI(IServiceCollection, Action{CompactAIOptions}, Action{ChatClientBuilder}?)"/>)
    /// with options bound from <paramref name="configuration"/>, conventionally the <c>CompactAI</c> section.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section holding <c>ModelPath</c>, <c>Threads</c>, <c>ContextSize</c> and the other <see cref="CompactAIOptions"/>.</param>
    /// <param name="configureChatClient">Adds middleware to the chat pipeline.</param>
    public static IServiceCollection AddCompactAI(this IServiceCollection services, IConfiguration configuration,
        Action<ChatClientBuilder>? configureChatClient = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<CompactAIOptions>().Bind(configuration).ValidateOnStart();
        return AddCore(services, configureChatClient);
    }

    private static IServiceCollection AddCore(IServiceCollection services, Action<ChatClientBuilder>? configureChatClient)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CompactAIOptions>, CompactAIOptionsValidator>());
        services.TryAddSingleton<CompactModelProvider>();
        services.TryAddSingleton(sp => sp.GetRequiredService<CompactModelProvider>().Model);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CompactModelWarmupService>());

        var chat = services.AddChatClient(sp =>
        {
            var options = sp.GetRequiredService<IOptions<CompactAIOptions>>().Value;
            return new CompactChatClient(sp.GetRequiredService<CompactModel>(), new CompactChatClientOptions
            {
                ModelId = options.ModelId,
                DefaultMaxOutputTokens = options.DefaultMaxOutputTokens,
                ContextOverflow = options.ContextOverflow,
            });
        });
        configureChatClient?.Invoke(chat);

        services.AddEmbeddingGenerator(sp => new CompactEmbeddingGenerator(sp.GetRequiredService<CompactModel>(),
            sp.GetRequiredService<IOptions<CompactAIOptions>>().Value.ModelId));
        return services;
    }
}
