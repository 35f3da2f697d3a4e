namespace CompactAI.Hybrid;

/// <summary>One escalated request, as logged for distillation.</summary>
/// <param name="Messages">The prompt messages.</param>
/// <param name="RemoteAnswer">The remote model's answer text.</param>
/// <param name="LocalAnswer">The local model's answer text; <see langword="null"/> when the prompt gate escalated before generating.</param>
/// <param name="Confidence">The local answer's confidence, when scored.</param>
/// <param name="Timestamp">When the record was made.</param>
public sealed record DistillationRecord(
    IReadOnlyList<DistillationMessage> Messages,
    string RemoteAnswer,
    string? LocalAnswer,
    double? Confidence,
    DateTimeOffset Timestamp);

/// <summary>One prompt message of a <see cref="DistillationRecord"/>.</summary>
/// <param name="Role">The role (<c>system</c>, <c>user</c>, <c>assistant</c>, …).</param>
/// <param name="Text">The message text.</param>
public sealed record DistillationMessage(string Role, string Text);
