using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace CompactAI.Hosting;

/// <summary>Loads the model while the host starts when <see cref="CompactAIOptions.LoadOnStart"/> is set, so the first request does not wait.</summary>
internal sealed class CompactModelWarmupService(CompactModelProvider provider, IOptions<CompactAIOptions> options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.LoadOnStart) await provider.GetModelAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
