using System.Diagnostics.CodeAnalysis;
using CompactAI;
using CompactAI.Chat;
using CompactAI.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers local CompactAI models and the Microsoft.Extensions.AI services over them.</summary>
public static class CompactAIServiceCollectionExtensions
{
    private const string BindingWarning =
        "Binding CompactAIOptions from configuration uses reflection over CompactModelOptions and CompactChatClientOptions; in a trimmed or AOT app, set the options in code.";

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
    /// builder.Services.AddCompactAI(o =&gt; { o.ModelPath = "models/stories260K.gguf"; o.Model = new() { Threads = 4 }; }, chat =&gt; chat.UseLogging());
    /// </code>
    /// </example>
    public static IServiceCollection AddCompactAI(this IServiceCollection services, Action<CompactAIOptions> configure,
        Action<ChatClientBuilder>? configureChatClient = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<CompactAIOptions>().Configure(configure).ValidateOnStart();
        return AddCore(services, null, configureChatClient);
    }

    /// <summary>
    /// Registers the CompactAI services (see <see cref="AddCompactAI(IServiceCollection, Action{CompactAIOptions}, Action{ChatClientBuilder}?)"/>)
    /// with options bound from <paramref name="configuration"/>, conventionally the <c>CompactAI</c> section.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section holding <c>ModelPath</c>, <c>Model</c> (<see cref="CompactModelOptions"/>), <c>Chat</c> (<see cref="CompactChatClientOptions"/>) and <c>LoadOnStart</c>.</param>
    /// <param name="configureChatClient">Adds middleware to the chat pipeline.</param>
    [RequiresUnreferencedCode(BindingWarning)]
    [RequiresDynamicCode(BindingWarning)]
    public static IServiceCollection AddCompactAI(this IServiceCollection services, IConfiguration configuration,
        Action<ChatClientBuilder>? configureChatClient = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<CompactAIOptions>().Bind(configuration).ValidateOnStart();
        return AddCore(services, null, configureChatClient);
    }

    /// <summary>
    /// Registers a named model and its services as keyed singletons under <paramref name="name"/>, with named options: resolve
    /// them with <c>[FromKeyedServices("name")]</c> (<see cref="CompactModelProvider"/>, <see cref="CompactModel"/>,
    /// <see cref="IChatClient"/>, <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>). Call it once per model.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The service key and options name.</param>
    /// <param name="configure">Sets the options (at least <see cref="CompactAIOptions.ModelPath"/>).</param>
    /// <param name="configureChatClient">Adds middleware to this model's chat pipeline.</param>
    /// <example>
    /// <code>
    /// services.AddCompactAI("small", o =&gt; o.ModelPath = "models/small.gguf");
    /// services.AddCompactAI("large", o =&gt; o.ModelPath = "models/large.gguf");
    /// app.MapGet("/ask", ([FromKeyedServices("small")] IChatClient chat) =&gt; ...);
    /// </code>
    /// </example>
    public static IServiceCollection AddCompactAI(this IServiceCollection services, string name, Action<CompactAIOptions> configure,
        Action<ChatClientBuilder>? configureChatClient = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<CompactAIOptions>(name).Configure(configure).ValidateOnStart();
        return AddCore(services, name, configureChatClient);
    }

    /// <summary>Registers a named model (see <see cref="AddCompactAI(IServiceCollection, string, Action{CompactAIOptions}, Action{ChatClientBuilder}?)"/>) with options bound from <paramref name="configuration"/>.</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="name">The service key and options name.</param>
    /// <param name="configuration">The section holding this model's options, e.g. <c>CompactAI:Models:small</c>.</param>
    /// <param name="configureChatClient">Adds middleware to this model's chat pipeline.</param>
    [RequiresUnreferencedCode(BindingWarning)]
    [RequiresDynamicCode(BindingWarning)]
    public static IServiceCollection AddCompactAI(this IServiceCollection services, string name, IConfiguration configuration,
        Action<ChatClientBuilder>? configureChatClient = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<CompactAIOptions>(name).Bind(configuration).ValidateOnStart();
        return AddCore(services, name, configureChatClient);
    }

    /// <summary>
    /// Adds a health check of a registered model (<paramref name="name"/>: an <c>AddCompactAI(name, …)</c> registration; null: the
    /// unkeyed one): Healthy once loaded, Degraded while not loaded yet or loading, <paramref name="failureStatus"/> when the load failed.
    /// </summary>
    /// <param name="builder">The health checks builder (<c>services.AddHealthChecks()</c>).</param>
    /// <param name="name">The registration's name, or null for the unkeyed one.</param>
    /// <param name="failureStatus">Reported when the load failed (null: Unhealthy).</param>
    /// <param name="tags">Tags of the check, e.g. <c>["ready"]</c>.</param>
    /// <returns>The builder. The check is named <c>compactai</c>, or <c>compactai:name</c>.</returns>
    public static IHealthChecksBuilder AddCompactAI(this IHealthChecksBuilder builder, string? name = null, HealthStatus? failureStatus = null,
        IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var registration = new CompactModelRegistration(name);
        return builder.Add(new HealthCheckRegistration(name is null ? "compactai" : $"compactai:{name}",
            sp => new CompactModelHealthCheck(registration.Provider(sp)), failureStatus, tags));
    }

    private static IServiceCollection AddCore(IServiceCollection services, string? key, Action<ChatClientBuilder>? configureChatClient)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CompactAIOptions>, CompactAIOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CompactModelWarmupService>());
        services.AddSingleton(new CompactModelRegistration(key));
        ChatClientBuilder chat;
        if (key is null)
        {
            services.TryAddSingleton(sp => new CompactModelProvider(sp.GetRequiredService<IOptions<CompactAIOptions>>(), sp.GetService<ILoggerFactory>()));
            services.TryAddSingleton(sp => sp.GetRequiredService<CompactModelProvider>().Model);
            chat = services.AddChatClient(sp => CreateChatClient(sp.GetRequiredService<CompactModelProvider>()));
            services.AddEmbeddingGenerator(sp => CreateEmbeddingGenerator(sp.GetRequiredService<CompactModelProvider>()));
        }
        else
        {
            services.AddKeyedSingleton(key, (sp, _) => new CompactModelProvider(key, sp.GetRequiredService<IOptionsMonitor<CompactAIOptions>>(), sp.GetService<ILoggerFactory>()));
            services.AddKeyedSingleton(key, (sp, _) => sp.GetRequiredKeyedService<CompactModelProvider>(key).Model);
            chat = services.AddKeyedChatClient(key, sp => CreateChatClient(sp.GetRequiredKeyedService<CompactModelProvider>(key)));
            services.AddKeyedEmbeddingGenerator(key, sp => CreateEmbeddingGenerator(sp.GetRequiredKeyedService<CompactModelProvider>(key)));
        }
        configureChatClient?.Invoke(chat);
        return services;
    }

    private static CompactChatClient CreateChatClient(CompactModelProvider provider) => new(provider.Model, provider.Options.Chat);

    private static CompactEmbeddingGenerator CreateEmbeddingGenerator(CompactModelProvider provider) =>
        new(provider.Model, provider.Options.Chat.ModelId);
}
