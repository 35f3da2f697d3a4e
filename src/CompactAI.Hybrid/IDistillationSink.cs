namespace CompactAI.Hybrid;

/// <summary>
/// Receives escalated requests with both answers, to build a data set for distilling the remote model into the
/// local one. Opt-in through <see cref="HybridOptions.DistillationSink"/>.
/// </summary>
/// <remarks>Implementations must be thread-safe. A failing sink never fails the request; the router logs and continues.</remarks>
public interface IDistillationSink
{
    /// <summary>Stores one record.</summary>
    /// <param name="record">The escalated request.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>A task that completes when the record is stored.</returns>
    ValueTask WriteAsync(DistillationRecord record, CancellationToken cancellationToken);
}
