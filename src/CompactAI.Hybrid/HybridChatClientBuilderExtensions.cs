using System.Diagnostics.Metrics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CompactAI.Hybrid;

/// <summary>Adds <see cref="HybridChatClient"/> to a <see cref="ChatClientBuilder"/> pipeline.</summary>
public static class HybridChatClientBuilderExtensions
{
    /// <summary>
    /// Routes between the builder's inner client (the local model) and <paramref name="remote"/>. Logger, meter factory
    /// and <see cref="TimeProvider"/> are taken from the service provider when registered there.
    /// </summary>
    /// <param name="builder">The builder whose inner client is the local model.</param>
    /// <param name="remote">The remote (large) model.</param>
    /// <param name="configure">Adjusts the policy; <see langword="null"/> keeps the defaults.</param>
    /// <returns>The builder.</returns>
    public static ChatClientBuilder UseHybrid(this ChatClientBuilder builder, IChatClient remote, Action<HybridOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(remote);
        var options = new HybridOptions();
        configure?.Invoke(options);
        return builder.Use((inner, services) => new HybridChatClient(
            inner,
            remote,
            options,
            services.GetService<ILoggerFactory>()?.CreateLogger<HybridChatClient>(),
            services.GetService<IMeterFactory>(),
            services.GetService<TimeProvider>()));
    }
}
