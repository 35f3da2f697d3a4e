using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>
/// The rest of a live remote stream after its first update with content: it is read outside the retry pipeline
/// (content already reached the caller, so nothing may be retried), under the same per-attempt deadline.
/// </summary>
internal sealed class RemoteStreamTail : IAsyncDisposable
{
    private readonly IAsyncEnumerator<ChatResponseUpdate> _updates;
    private readonly CancellationTokenSource _deadline;
    private readonly CancellationTokenSource _linked;
    private readonly RemotePipeline _pipeline;
    private readonly CancellationToken _caller;

    public RemoteStreamTail(
        IAsyncEnumerator<ChatResponseUpdate> updates, CancellationTokenSource deadline, CancellationTokenSource linked,
        RemotePipeline pipeline, CancellationToken caller)
    {
        _updates = updates;
        _deadline = deadline;
        _linked = linked;
        _pipeline = pipeline;
        _caller = caller;
    }

    public ChatResponseUpdate Current => _updates.Current;

    /// <summary>Why the stream ended early, or <see langword="null"/> while it is whole.</summary>
    public string? Error { get; private set; }

    /// <summary>Moves to the next update; a failure ends the stream and is kept in <see cref="Error"/>. Only the caller's cancellation throws.</summary>
    public async ValueTask<bool> MoveNextAsync()
    {
        try
        {
            return await _updates.MoveNextAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_caller.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            Error = _deadline.IsCancellationRequested ? _pipeline.Describe(new TimeoutException()) : _pipeline.Describe(ex);
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _updates.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_caller.IsCancellationRequested)
        {
            Error ??= _pipeline.Describe(ex);
        }
        finally
        {
            _linked.Dispose();
            _deadline.Dispose();
        }
    }
}
