using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace CompactAI.Hosting;

/// <summary>
/// Reports a model's <see cref="CompactModelProvider.State"/>: loaded → Healthy (with where it runs); not loaded yet or loading →
/// Degraded (with the progress); failed → the registration's failure status (Unhealthy by default), with the error.
/// </summary>
internal sealed class CompactModelHealthCheck(CompactModelProvider provider) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>
        {
            ["state"] = provider.State.ToString(),
            ["progress"] = provider.LoadProgress,
        };
        var result = provider.State switch
        {
            CompactModelState.Loaded => HealthCheckResult.Healthy($"loaded; runs on {provider.Model.BackendDescription}", data),
            CompactModelState.Loading => HealthCheckResult.Degraded($"loading ({provider.LoadProgress:P0})", data: data),
            CompactModelState.NotLoaded => HealthCheckResult.Degraded("not loaded yet (loads at host start or on first use)", data: data),
            _ => new HealthCheckResult(context.Registration.FailureStatus, $"failed to load: {provider.LoadError?.Message}", provider.LoadError, data),
        };
        return Task.FromResult(result);
    }
}
