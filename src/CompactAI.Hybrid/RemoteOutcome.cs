using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>What an escalation produced: the remote answer, or why there is none.</summary>
internal sealed record RemoteOutcome
{
    /// <summary>The remote answer, when the call succeeded.</summary>
    public ChatResponse? Response { get; init; }

    /// <summary>
    /// The remote updates in order: all of them for a buffered stream; for a live stream the ones read up to and
    /// including the first that carries content, with the rest in <see cref="Tail"/>.
    /// </summary>
    public IReadOnlyList<ChatResponseUpdate>? Updates { get; init; }

    /// <summary>The rest of a live stream, once content arrived; the caller reads and disposes it.</summary>
    public RemoteStreamTail? Tail { get; init; }

    /// <summary>Route to report if no answer came back (fallback, budget or open circuit).</summary>
    public HybridRoute FailureRoute { get; init; } = HybridRoute.LocalFallback;

    /// <summary>Why no answer came back.</summary>
    public string? Error { get; init; }

    public int Attempts { get; init; }

    public TimeSpan Latency { get; init; }

    public bool Succeeded => Response is not null || Tail is not null;
}
