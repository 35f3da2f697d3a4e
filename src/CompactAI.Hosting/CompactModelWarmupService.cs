using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace CompactAI.Hosting;

/// <summary>One <c>AddCompactAI</c> registration: its service key (null: the unkeyed one).</summary>
internal sealed record CompactModelRegistration(string? Key)
{
    public CompactModelProvider Provider(IServiceProvider services) =>
        Key is null ? services.GetRequiredService<CompactModelProvider>() : services.GetRequiredKeyedService<CompactModelProvider>(Key);
}

/// <summary>Loads, while the host starts, every registered model whose <see cref="CompactAIOptions.LoadOnStart"/> is set, so the first request does not wait.</summary>
internal sealed class CompactModelWarmupService(IServiceProvider services, IEnumerable<CompactModelRegistration> registrations) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var providers = registrations.Distinct().Select(r => r.Provider(services)).Where(p => p.Options.LoadOnStart).ToList();
        await Task.WhenAll(providers.Select(p => p.GetModelAsync(cancellationToken))).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
