using CompactAI.Samples.Plugin;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the story-writer plugin.</summary>
public static class StoryWriterServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="StoryWriter"/>. It needs an <see cref="Microsoft.Extensions.AI.IChatClient"/>: call
    /// <c>AddCompactAI</c> (or register any other chat client) as well.
    /// </summary>
    public static IServiceCollection AddStoryWriter(this IServiceCollection services, Action<StoryWriterOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<StoryWriterOptions>();
        if (configure is not null) options.Configure(configure);
        services.AddSingleton<StoryWriter>();
        return services;
    }
}
