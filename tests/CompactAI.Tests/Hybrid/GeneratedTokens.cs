using CompactAI.Inference;

namespace CompactAI.Tests.Hybrid;

/// <summary>Longer scripted streams.</summary>
internal sealed record GeneratedTokens(GeneratedToken[] Items)
{
    public static GeneratedTokens Unsure(int count) =>
        new([.. Enumerable.Range(0, count).Select(i => Tok.Make($" w{i}", 0.08, entropy: 3.8, top1: 0.12, top2: 0.1))]);
}
