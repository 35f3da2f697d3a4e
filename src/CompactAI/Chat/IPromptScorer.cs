using Microsoft.Extensions.AI;

namespace CompactAI;

/// <summary>
/// Scores how familiar a prompt is to the local model (teacher-forced log-probabilities of the prompt tokens).
/// A local CompactAI client exposes it through <c>GetService(typeof(IPromptScorer))</c>; the hybrid router (package CompactAI.Hybrid) uses it
/// for the prompt-perplexity gate, which escalates before any local generation is spent.
/// </summary>
/// <remarks>Implementations must be safe to call concurrently with generation on the same client.</remarks>
public interface IPromptScorer
{
    /// <summary>Scores the prompt the given messages render to.</summary>
    /// <param name="messages">The conversation, as it would be sent to the model.</param>
    /// <param name="cancellationToken">Cancels the scoring.</param>
    /// <returns>The prompt's token count, mean log-probability and perplexity.</returns>
    ValueTask<PromptScore> ScorePromptAsync(IEnumerable<ChatMessage> messages, CancellationToken cancellationToken);
}
