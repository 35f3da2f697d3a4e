using System.Numerics.Tensors;
using CompactAI.Tensors;

namespace CompactAI.Models;

/// <summary>The per-block projections a LoRA adapter may change, by base tensor (<see cref="LoraAdapter.TargetNames"/>).</summary>
internal enum LoraTarget
{
    Query, Key, Value, Qkv, Output, Gate, Up, Down,
    /// <summary>How many targets there are.</summary>
    Count,
}

/// <summary>One adapter matrix: its pinned bytes (kept alive here) and the view the matmul reads.</summary>
internal sealed class LoraMatrix(byte[] storage, WeightMatrix matrix)
{
    private readonly byte[] _storage = storage;

    public WeightMatrix Matrix { get; } = matrix;

    /// <summary>The pinned bytes (<see cref="Matrix"/> points into them).</summary>
    public ReadOnlySpan<byte> Bytes => _storage;
}

/// <summary>
/// The two factors of one adapted matrix. For a projection: A is [rank × in], B is [out × rank], delta = B·(A·x). For the token
/// embedding (llama.cpp's layout): A is [vocab × rank] (one row per token), B is [embd × rank], delta = B·A[token].
/// </summary>
internal sealed class LoraPair(LoraMatrix a, LoraMatrix b, int rank)
{
    public LoraMatrix A { get; } = a;

    public LoraMatrix B { get; } = b;

    public int Rank { get; } = rank;

    /// <summary>llama.cpp's effective scale: user × alpha / rank, or the user scale when alpha is 0.</summary>
    public float Scale(float alpha, float user) => alpha != 0 ? user * alpha / Rank : user;
}

/// <summary>
/// The adapters one forward pass applies, in order, with their user scales; entries at scale 0 are left out, so a set that
/// is all zeros is no set (null) and computes exactly the base model. Equal sets (same adapters, same scales, same order)
/// compute the same keys and values, which is what the KV cache reuse is keyed on.
/// </summary>
internal sealed class LoraStack : IEquatable<LoraStack>
{
    private readonly LoraAdapter[] _adapters;
    private readonly float[] _scales;

    private LoraStack(LoraAdapter[] adapters, float[] scales)
    {
        _adapters = adapters;
        _scales = scales;
    }

    public int Count => _adapters.Length;

    public LoraAdapter this[int i] => _adapters[i];

    public float UserScale(int i) => _scales[i];

    /// <summary>The set for <paramref name="adapters"/> on <paramref name="model"/>, or null when nothing applies.</summary>
    /// <exception cref="ArgumentException">An adapter was loaded for another model, or a scale is not finite.</exception>
    public static LoraStack? For(CompactModel model, IReadOnlyList<ScaledLoraAdapter>? adapters)
    {
        if (adapters is null || adapters.Count == 0) return null;
        var list = new List<LoraAdapter>(adapters.Count);
        var scales = new List<float>(adapters.Count);
        foreach (var (adapter, scale) in adapters)
        {
            ArgumentNullException.ThrowIfNull(adapter, nameof(adapters));
            if (!ReferenceEquals(adapter.Model, model))
                throw new ArgumentException($"The adapter '{adapter.FilePath}' was loaded for another model; load it with this model's LoadAdapter.", nameof(adapters));
            if (!float.IsFinite(scale)) throw new ArgumentException($"The scale of adapter '{adapter.FilePath}' is {scale}; it must be finite.", nameof(adapters));
            if (scale == 0) continue;
            list.Add(adapter);
            scales.Add(scale);
        }
        return list.Count == 0 ? null : new LoraStack(list.ToArray(), scales.ToArray());
    }

    /// <summary>Whether two (possibly absent) sets compute the same thing.</summary>
    public static bool Same(LoraStack? a, LoraStack? b) => a is null ? b is null : a.Equals(b);

    public bool Equals(LoraStack? other)
    {
        if (other is null || other.Count != Count) return false;
        for (int i = 0; i < Count; i++)
            if (_adapters[i].Id != other._adapters[i].Id || BitConverter.SingleToInt32Bits(_scales[i]) != BitConverter.SingleToInt32Bits(other._scales[i])) return false;
        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as LoraStack);

    public override int GetHashCode()
    {
        var h = new HashCode();
        for (int i = 0; i < Count; i++) { h.Add(_adapters[i].Id); h.Add(_scales[i]); }
        return h.ToHashCode();
    }
}

/// <summary>
/// The adapter-aware step of a projection: after y = W·x, adds s·B·(A·x) of every adapter in the active set that changes W.
/// One per <see cref="Transformer"/> (it owns the scratch rows, grown on first use of a larger rank or width, so decode
/// allocates nothing). The adapter matmuls run through the session's <see cref="MatMul"/> in the adapter tensors' own type.
/// </summary>
internal sealed class LoraStep(MatMul matmul, int maxBatch)
{
    private float[] _mid = Array.Empty<float>(), _delta = Array.Empty<float>();

    /// <summary>y[n × out] += Σ s·B·(A·x[n × in]) over the adapters of <paramref name="set"/> that change <paramref name="target"/> of <paramref name="layer"/>.</summary>
    public void Apply(LoraStack? set, int layer, LoraTarget target, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        if (set is null) return;
        for (int i = 0; i < set.Count; i++)
        {
            var adapter = set[i];
            if (adapter.Find(layer, target) is { } pair) Add(pair, adapter.Alpha, set.UserScale(i), x, n, y);
        }
    }

    /// <summary>As <see cref="Apply"/>, for the output head (<c>output.weight</c>).</summary>
    public void ApplyOutput(LoraStack? set, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        if (set is null) return;
        for (int i = 0; i < set.Count; i++)
            if (set[i].OutputHead is { } pair) Add(pair, set[i].Alpha, set.UserScale(i), x, n, y);
    }

    /// <summary>x[b] += s·B·A[token b] for the adapters that change the token embedding.</summary>
    public void ApplyEmbedding(LoraStack? set, ReadOnlySpan<int> tokens, Span<float> x)
    {
        if (set is null) return;
        for (int i = 0; i < set.Count; i++)
        {
            if (set[i].TokenEmbedding is not { } pair) continue;
            int n = tokens.Length, rank = pair.Rank;
            var b = pair.B.Matrix;
            Grow(ref _mid, rank);
            Grow(ref _delta, b.Rows);
            for (int t = 0; t < n; t++) pair.A.Matrix.DequantizeRow(tokens[t], _mid.AsSpan(t * rank, rank));
            matmul.Compute(b, _mid, n, _delta);
            float s = pair.Scale(set[i].Alpha, set.UserScale(i));
            var delta = _delta.AsSpan(0, n * b.Rows);
            var dst = x[..(n * b.Rows)];
            TensorPrimitives.MultiplyAdd(delta, s, dst, dst);
        }
    }

    private void Add(LoraPair pair, float alpha, float user, ReadOnlySpan<float> x, int n, Span<float> y)
    {
        var a = pair.A.Matrix;
        var b = pair.B.Matrix;
        Grow(ref _mid, pair.Rank);
        Grow(ref _delta, b.Rows);
        matmul.Compute(a, x, n, _mid);
        matmul.Compute(b, _mid, n, _delta);
        var delta = _delta.AsSpan(0, n * b.Rows);
        var dst = y[..(n * b.Rows)];
        TensorPrimitives.MultiplyAdd(delta, pair.Scale(alpha, user), dst, dst);
    }

    private void Grow(ref float[] buffer, int width)
    {
        if (buffer.Length < maxBatch * width) buffer = new float[maxBatch * width];
    }
}
