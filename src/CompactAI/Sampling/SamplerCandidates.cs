using System.Diagnostics.CodeAnalysis;
using System.Numerics.Tensors;

namespace CompactAI.Sampling;

/// <summary>
/// The next-token candidates a <see cref="ISamplerStep"/> works on: token ids with their logits and (once computed)
/// probabilities, in buffers the sampler allocates once per vocabulary, so a step allocates nothing per token.
/// </summary>
/// <remarks>
/// The candidates are a window over those buffers: <see cref="Keep"/> narrows it without copying (dropping the least
/// likely with <c>Keep(0, n)</c>, the most likely with <c>Keep(m, Count - m)</c>). Whatever remains after the last step is
/// what the final pick chooses from. A step may change <see cref="Logits"/> (and <see cref="Probabilities"/>) freely; the set
/// and order of candidates change only through <see cref="Keep"/> and <see cref="Sort"/>. A step that changes logits after
/// probabilities were computed calls <see cref="Softmax"/> again if later steps read them, and <see cref="Sort"/> if it
/// may have put them out of order where later steps expect them sorted (top-p, min-p).
/// </remarks>
[Experimental(SamplingDiagnosticIds.SamplerSteps)]
public ref struct SamplerCandidates
{
    private readonly Span<int> _ids;
    private readonly Span<float> _logits;
    private readonly Span<float> _probabilities;
    private int _start;
    private int _count;

    /// <summary>
    /// Candidates for the whole vocabulary in id order: <paramref name="logits"/>[i] is token i's logit. The constructor fills
    /// <paramref name="ids"/> with 0, 1, …; <paramref name="probabilities"/> is the buffer <see cref="Softmax"/> writes.
    /// All three must have the same length. For running a step outside a generation, e.g. in a unit test.
    /// </summary>
    /// <exception cref="ArgumentException">The lengths differ.</exception>
    public SamplerCandidates(Span<float> logits, Span<int> ids, Span<float> probabilities, ReadOnlySpan<int> history)
        : this(logits, SameLength(logits, ids, probabilities), probabilities, history, int.MaxValue, idsFilled: false)
    {
    }

    private static Span<int> SameLength(Span<float> logits, Span<int> ids, Span<float> probabilities) =>
        ids.Length == logits.Length && probabilities.Length == logits.Length ? ids
            : throw new ArgumentException($"ids ({ids.Length}), logits ({logits.Length}) and probabilities ({probabilities.Length}) must have the same length.", nameof(ids));

    /// <summary>The chain's constructor: <paramref name="ids"/> already hold 0, 1, … when <paramref name="idsFilled"/>.</summary>
    internal SamplerCandidates(Span<float> logits, Span<int> ids, Span<float> probabilities, ReadOnlySpan<int> history, int tokensLeft, bool idsFilled)
    {
        _logits = logits;
        _ids = ids[..logits.Length];
        _probabilities = probabilities[..logits.Length];
        _count = logits.Length;
        if (!idsFilled)
            for (int i = 0; i < _ids.Length; i++) _ids[i] = i;
        History = history;
        TokensLeft = tokensLeft;
        IsVocabularyOrder = true;
        Selected = -1;
    }

    /// <summary>How many candidates remain.</summary>
    public readonly int Count => _count;

    /// <summary>The remaining candidates' token ids (read-only: the set and order change through <see cref="Keep"/> and <see cref="Sort"/>).</summary>
    public readonly ReadOnlySpan<int> Ids => _ids.Slice(_start, _count);

    /// <summary>The ids, writable, for the chain's own steps that reorder (top-k's selection).</summary>
    internal readonly Span<int> WritableIds => _ids.Slice(_start, _count);

    /// <summary>The remaining candidates' logits (after the bias, the constraint mask and the penalties).</summary>
    public readonly Span<float> Logits => _logits.Slice(_start, _count);

    /// <summary>The remaining candidates' probabilities, as the last <see cref="Softmax"/> left them; meaningful only when <see cref="HasProbabilities"/>.</summary>
    public readonly Span<float> Probabilities => _probabilities.Slice(_start, _count);

    /// <summary>The sequence's tokens so far (prompt and generated), oldest first.</summary>
    public readonly ReadOnlySpan<int> History { get; }

    /// <summary>True while the candidates are the whole vocabulary in id order (<c>Ids[i] == i</c>), so a token's logit is <c>Logits[id]</c>.</summary>
    public bool IsVocabularyOrder { readonly get; private set; }

    /// <summary>True when the candidates are sorted by logit, largest first.</summary>
    public bool IsSorted { readonly get; private set; }

    /// <summary>True once <see cref="Softmax"/> computed <see cref="Probabilities"/> for these candidates.</summary>
    public bool HasProbabilities { readonly get; private set; }

    /// <summary>How many tokens the generation may still produce, this one included.</summary>
    internal readonly int TokensLeft { get; }

    /// <summary>The pick: index into the remaining candidates of the chosen one (−1 before a pick).</summary>
    internal int Selected { readonly get; set; }

    /// <summary>Narrows the candidates to the <paramref name="count"/> starting at <paramref name="start"/> (indexes into the remaining ones).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is not within the remaining candidates.</exception>
    public void Keep(int start, int count)
    {
        if (start < 0 || count < 0 || start > _count - count)
            throw new ArgumentOutOfRangeException(nameof(count), $"Keep({start}, {count}) is outside the {_count} candidates.");
        if (start == 0 && count == _count) return;
        _start += start;
        _count = count;
        IsVocabularyOrder = false;
    }

    /// <summary>Sorts the candidates by logit, largest first (probabilities must be computed again afterwards).</summary>
    public void Sort()
    {
        Logits.Sort(WritableIds, DescendingComparer.Instance);
        MarkSorted();
    }

    /// <summary>Records that the candidates are in descending logit order (after a step sorted them itself).</summary>
    internal void MarkSorted()
    {
        IsSorted = true;
        IsVocabularyOrder = false;
        HasProbabilities = false;
    }

    /// <summary>Sets <see cref="Probabilities"/> to the softmax of <see cref="Logits"/> / <paramref name="temperature"/> over the remaining candidates.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="temperature"/> is not positive.</exception>
    public void Softmax(float temperature = 1.0f)
    {
        if (!(temperature > 0)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "The temperature must be positive.");
        if (_count == 0) return;
        var v = Logits;
        var p = Probabilities;
        float max = TensorPrimitives.Max(v);
        double sum = 0;
        for (int i = 0; i < v.Length; i++)
        {
            float e = MathF.Exp((v[i] - max) / temperature);
            p[i] = e;
            sum += e;
        }
        TensorPrimitives.Multiply(p, (float)(1 / sum), p);
        HasProbabilities = true;
    }

    /// <summary>Largest first; the sampler's sort order since its first version.</summary>
    internal sealed class DescendingComparer : IComparer<float>
    {
        public static readonly DescendingComparer Instance = new();
        public int Compare(float x, float y) => y.CompareTo(x);
    }
}
