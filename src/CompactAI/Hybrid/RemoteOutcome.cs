using Microsoft.Extensions.AI;

namespace CompactAI.Hybrid;

/// <summary>What an escalation produced: the remote answer, or why there is none.</summary>
internal sealed class RemoteOutcome
{
    /// <summary>The remote answer, when the call succeeded.</summary>
    public ChatResponse? Response { get; init; }

    /// <summary>The remote updates in order, when the call streamed and succeeded.</summary>
    public IReadOnlyList<ChatResponseUpdate>? Updates { get; init; }

    /// <summary>Route to report if no answer came back (fallback, budget or open circuit).</summary>
    public HybridRoute FailureRoute { get; init; } = HybridRoute.LocalFallback;

    /// <summary>Why no answer came back.</summary>
    public string? Error { get; init; }

    public int Attempts { get; init; }

    public TimeSpan Latency { get; init; }

    public bool Succeeded => Response is not null;
}
