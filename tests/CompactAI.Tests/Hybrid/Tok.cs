using CompactAI.Inference;

namespace CompactAI.Tests.Hybrid;

/// <summary>Builds scripted tokens.</summary>
internal static class Tok
{
    public static GeneratedToken Make(string text, double probability, double entropy = 0.5, double top1 = -1, double top2 = 0.05) =>
        new(text.Length, text, (float)Math.Log(probability), (float)entropy, (float)(top1 < 0 ? probability : top1), (float)top2);

    /// <summary>Words of a sentence, each with the same probability and entropy.</summary>
    public static GeneratedToken[] Sentence(string sentence, double probability, double entropy) =>
        [.. sentence.Split(' ').Select((w, i) => Make(i == 0 ? w : " " + w, probability, entropy, probability, Math.Min(1 - probability, 0.05)))];

    /// <summary>A confident answer: every token at p = 0.95, low entropy.</summary>
    public static GeneratedToken[] Confident(string sentence = "Paris is the capital of France.") => Sentence(sentence, 0.95, 0.2);

    /// <summary>An unsure answer: every token at p = 0.1, high entropy.</summary>
    public static GeneratedToken[] Unsure(string sentence = "Maybe it is Lyon or perhaps somewhere else entirely.") => Sentence(sentence, 0.1, 3.5);
}
