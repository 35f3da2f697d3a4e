using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>
/// Forwards a remote stream as it arrives (stream-then-verify mode). Failed attempts are retried only while no update
/// has reached the caller; after the first forwarded update a failure ends the stream and is reported, never retried.
/// The caller must have admitted the call (<see cref="RemoteInvoker.TryAdmit"/>) first.
/// </summary>
internal sealed class LiveRemoteStream
{
    private readonly RemoteInvoker _invoker;
    private readonly HybridOptions _options;
    private readonly TimeProvider _time;
    private readonly List<ChatResponseUpdate> _updates = [];

    public LiveRemoteStream(RemoteInvoker invoker, HybridOptions options, TimeProvider time)
    {
        _invoker = invoker;
        _options = options;
        _time = time;
    }

    public IReadOnlyList<ChatResponseUpdate> Updates => _updates;

    public bool Succeeded { get; private set; }

    public bool ForwardedAny => _updates.Count > 0;

    public string? Error { get; private set; }

    public int Attempts { get; private set; }

    public TimeSpan Latency { get; private set; }

    public async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(
        IReadOnlyList<ChatMessage> messages, ChatOptions? options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long started = _time.GetTimestamp();
        while (true)
        {
            Attempts++;
            using var timeout = new CancellationTokenSource(_options.RemoteTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            IAsyncEnumerator<ChatResponseUpdate>? enumerator = null;
            Exception? failure = null;
            try
            {
                enumerator = _invoker.Client.GetStreamingResponseAsync(messages, options, linked.Token).GetAsyncEnumerator(linked.Token);
                while (true)
                {
                    // C# forbids yield inside try/catch, so each step is guarded and the yield happens outside.
                    bool hasNext;
                    try
                    {
                        hasNext = await enumerator.MoveNextAsync().ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                    {
                        _invoker.RecordAbandoned();
                        throw;
                    }
                    catch (Exception ex)
                    {
                        failure = ex;
                        break;
                    }

                    if (!hasNext)
                    {
                        break;
                    }

                    _updates.Add(enumerator.Current);
                    yield return enumerator.Current;
                }
            }
            finally
            {
                if (enumerator is not null)
                {
                    try
                    {
                        await enumerator.DisposeAsync().ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                    {
                        failure ??= ex;
                    }
                }
            }

            Latency = _time.GetElapsedTime(started);
            if (failure is null && ForwardedAny)
            {
                Succeeded = true;
                Error = null;
                _invoker.RecordLiveResult(success: true);
                yield break;
            }

            _invoker.RecordLiveResult(success: false);
            Error = failure is null ? "the remote stream held no answer"
                : timeout.IsCancellationRequested || RemoteInvoker.IsTimeout(failure) ? $"remote timed out after {_options.RemoteTimeout.TotalMilliseconds:0} ms"
                : RemoteInvoker.Describe(failure);
            if (ForwardedAny || Attempts > _options.MaxRemoteRetries || !_invoker.TryAcquireBreaker())
            {
                yield break;
            }

            await Task.Delay(_invoker.BackoffDelay(Attempts), _time, cancellationToken).ConfigureAwait(false);
        }
    }
}
