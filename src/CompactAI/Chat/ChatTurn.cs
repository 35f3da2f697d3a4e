namespace CompactAI.Chat;

/// <summary>One message of a conversation, as a chat template sees it: <c>{"role": Role, "content": Content}</c>.</summary>
/// <param name="Role">The speaker: usually <c>system</c>, <c>user</c> or <c>assistant</c> (templates may accept others, e.g. <c>tool</c>).</param>
/// <param name="Content">The message text.</param>
public sealed record ChatTurn(string Role, string Content);
