using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using CompactAI.Models;

namespace CompactAI.Inference;

/// <summary>
/// The binary format of a saved <see cref="InferenceSession"/>: the cached tokens and their keys and values, so another
/// session of the same model continues without recomputing them. Little-endian throughout:
/// <code>
/// magic          8 bytes   "CAISTATE"
/// version        u32       1
/// architecture   u16 length (≤ 256) + UTF-8 bytes
/// block_count, embedding_length, head_count, kv_head_count, head_dim, value_dim, vocab_size, tensor_count   i32 each
/// model_hash     32 bytes  SHA-256 of the hyper-parameters and every tensor's name, type and shape
/// token_count    i32       n, at most the loading session's context size
/// tokens         n × i32
/// kv             for each layer, for each KV head: keys n × head_dim f16, then values n × value_dim f16
/// checksum       32 bytes  SHA-256 of every byte above
/// </code>
/// The cache holds values already rounded to half precision, so f16 storage is exact.
/// </summary>
internal static class SessionState
{
    private static ReadOnlySpan<byte> Magic => "CAISTATE"u8;
    public const uint Version = 1;
    private const int MaxArchitectureBytes = 256;
    private const int BufferSize = 1 << 16;

    /// <summary>What identifies a model for the state: the fields named in the format plus a hash of the rest.</summary>
    internal sealed record Fingerprint(string Architecture, int[] Dimensions, byte[] Hash)
    {
        public static readonly string[] DimensionNames =
            ["block_count", "embedding_length", "head_count", "kv_head_count", "head_dim", "value_dim", "vocab_size", "tensor_count"];

        public static Fingerprint Of(CompactModel model)
        {
            var c = model.Config;
            var tensors = model.File.Tensors;
            int[] dims = [c.BlockCount, c.EmbeddingLength, c.HeadCount, c.KvHeadCount, c.HeadDim, c.ValueDim, c.VocabularySize, tensors.Count];
            using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var w = new ArrayBufferWriter<byte>();
            void Str(string s) { Int(Encoding.UTF8.GetByteCount(s)); w.Write(Encoding.UTF8.GetBytes(s)); }
            void Int(long v) { BinaryPrimitives.WriteInt64LittleEndian(w.GetSpan(8), v); w.Advance(8); }
            void Flt(float v) => Int(BitConverter.SingleToInt32Bits(v));
            Str(c.Architecture);
            foreach (int d in dims) Int(d);
            Int(c.ContextLength); Int(c.FeedForwardLength); Int(c.RopeDimensions); Flt(c.RopeFreqBase); Int((int)c.RopeStyle);
            Flt(c.RmsNormEpsilon); Int((int)c.Activation); Flt(c.EmbeddingScale); Flt(c.AttentionScale); Flt(c.AttentionSoftcap);
            Flt(c.FinalLogitSoftcap); Int(c.SlidingWindow); Flt(c.SlidingWindowRopeFreqBase); Flt(c.RopeFreqScale);
            Int(c.SlidingWindowLayers?.Count ?? -1);
            foreach (bool b in c.SlidingWindowLayers ?? []) Int(b ? 1 : 0);
            foreach (var t in tensors)
            {
                Str(t.Name);
                Int((long)t.Type);
                Int(t.Dimensions.Count);
                foreach (long d in t.Dimensions) Int(d);
            }
            h.AppendData(w.WrittenSpan);
            return new Fingerprint(c.Architecture, dims, h.GetHashAndReset());
        }
    }

    /// <summary>Writes the state of <paramref name="tokens"/> (whose keys and values are in <paramref name="cache"/>).</summary>
    public static async ValueTask SaveAsync(Stream stream, Fingerprint model, IReadOnlyList<int> tokens, KvCache cache, int layers, bool useAsync, CancellationToken ct)
    {
        CheckEndianness();
        using var w = new Writer(stream, useAsync, ct, Math.Max(cache.HeadDim, cache.ValueDim) * 2);
        Magic.CopyTo(w.Take(Magic.Length));
        BinaryPrimitives.WriteUInt32LittleEndian(w.Take(4), Version);
        byte[] arch = Encoding.UTF8.GetBytes(model.Architecture);
        if (arch.Length > MaxArchitectureBytes) throw new InvalidOperationException($"The architecture name is longer than {MaxArchitectureBytes} bytes.");
        BinaryPrimitives.WriteUInt16LittleEndian(w.Take(2), (ushort)arch.Length);
        arch.CopyTo(w.Take(arch.Length));
        foreach (int d in model.Dimensions) BinaryPrimitives.WriteInt32LittleEndian(w.Take(4), d);
        model.Hash.CopyTo(w.Take(32));
        int n = tokens.Count;
        BinaryPrimitives.WriteInt32LittleEndian(w.Take(4), n);
        for (int i = 0; i < n; i++)
        {
            await w.EnsureAsync(4).ConfigureAwait(false);
            BinaryPrimitives.WriteInt32LittleEndian(w.Take(4), tokens[i]);
        }
        for (int l = 0; l < layers; l++)
        {
            for (int h = 0; h < cache.KvHeads; h++)
            {
                await WriteHeadAsync(w, cache, l, h, keys: true, n).ConfigureAwait(false);
                await WriteHeadAsync(w, cache, l, h, keys: false, n).ConfigureAwait(false);
            }
        }
        await w.FinishAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Reads a state into <paramref name="cache"/> and returns its tokens. Reads no byte past the state's checksum.
    /// On failure the cache holds partial data: the caller must treat the session as empty.
    /// </summary>
    public static async ValueTask<int[]> LoadAsync(Stream stream, Fingerprint model, KvCache cache, int layers, int contextSize, int vocabularySize,
        bool useAsync, CancellationToken ct)
    {
        CheckEndianness();
        using var r = new Reader(stream, useAsync, ct, Math.Max(cache.HeadDim, cache.ValueDim) * 2);
        await r.EnsureAsync(Magic.Length, "magic").ConfigureAwait(false);
        if (!r.Take(Magic.Length).SequenceEqual(Magic))
            throw new SessionStateException("This is not a CompactAI session state: it does not start with 'CAISTATE'", "magic", 0);

        long at = r.Offset;
        uint version = await r.ReadUInt32Async("version").ConfigureAwait(false);
        if (version != Version)
            throw new SessionStateException($"Session state version {version} is not supported; this build reads version {Version}", "version", at);

        at = r.Offset;
        int archLength = await r.ReadUInt16Async("architecture").ConfigureAwait(false);
        if (archLength > MaxArchitectureBytes)
            throw new SessionStateException($"The architecture name is {archLength} bytes long; at most {MaxArchitectureBytes} are allowed", "architecture", at);
        await r.EnsureAsync(archLength, "architecture").ConfigureAwait(false);
        string arch;
        try { arch = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(r.Take(archLength)); }
        catch (DecoderFallbackException) { throw new SessionStateException("The architecture name is not valid UTF-8", "architecture", at); }
        if (arch != model.Architecture)
            throw new SessionStateException($"The state was saved from a '{arch}' model; this model is '{model.Architecture}'", "architecture", at);

        for (int i = 0; i < model.Dimensions.Length; i++)
        {
            at = r.Offset;
            string name = Fingerprint.DimensionNames[i];
            int value = await r.ReadInt32Async(name).ConfigureAwait(false);
            if (value != model.Dimensions[i])
                throw new SessionStateException($"The state was saved from a different model: {name} is {value} in the state but {model.Dimensions[i]} in this model", name, at);
        }

        at = r.Offset;
        await r.EnsureAsync(32, "model_hash").ConfigureAwait(false);
        if (!r.Take(32).SequenceEqual(model.Hash))
            throw new SessionStateException("The state was saved from a different model: the hyper-parameters or the tensors' names, types or shapes differ", "model_hash", at);

        at = r.Offset;
        int n = await r.ReadInt32Async("token_count").ConfigureAwait(false);
        if (n < 0) throw new SessionStateException($"The token count {n} is negative", "token_count", at);
        if (n > contextSize)
            throw new SessionStateException($"The state holds {n} tokens but this session's context holds {contextSize}; create the session with a context of at least {n} tokens", "token_count", at);
        long kvBytes = (long)layers * cache.KvHeads * n * (cache.HeadDim + cache.ValueDim) * 2;
        r.KnownEnd = r.Offset + 4L * n + kvBytes + 32;

        var tokens = new int[n];
        for (int i = 0; i < n; i++)
        {
            at = r.Offset;
            int t = await r.ReadInt32Async("tokens").ConfigureAwait(false);
            if ((uint)t >= (uint)vocabularySize)
                throw new SessionStateException($"Token {i} is {t}, outside the vocabulary [0, {vocabularySize})", "tokens", at);
            tokens[i] = t;
        }
        for (int l = 0; l < layers; l++)
        {
            for (int h = 0; h < cache.KvHeads; h++)
            {
                await ReadHeadAsync(r, cache, l, h, keys: true, n).ConfigureAwait(false);
                await ReadHeadAsync(r, cache, l, h, keys: false, n).ConfigureAwait(false);
            }
        }

        at = r.Offset;
        byte[] expected = r.HashSoFar();
        await r.EnsureAsync(32, "checksum").ConfigureAwait(false);
        if (!r.TakeUnhashed(32).SequenceEqual(expected))
            throw new SessionStateException("The checksum does not match the contents: the state is corrupt", "checksum", at);
        return tokens;
    }

    private static Span<float> Head(KvCache cache, int layer, int head, bool keys) => keys ? cache.KeysOf(layer, head) : cache.ValuesOf(layer, head);

    private static async ValueTask WriteHeadAsync(Writer w, KvCache cache, int layer, int head, bool keys, int n)
    {
        int dim = keys ? cache.HeadDim : cache.ValueDim;
        int rowsPerChunk = Math.Max(1, BufferSize / (dim * 2));
        for (int t = 0; t < n; t += rowsPerChunk)
        {
            int rows = Math.Min(rowsPerChunk, n - t);
            await w.EnsureAsync(rows * dim * 2).ConfigureAwait(false);
            // The span is taken after the await: spans cannot live across one.
            TensorPrimitives.ConvertToHalf(Head(cache, layer, head, keys).Slice(t * dim, rows * dim), MemoryMarshal.Cast<byte, Half>(w.Take(rows * dim * 2)));
        }
    }

    private static async ValueTask ReadHeadAsync(Reader r, KvCache cache, int layer, int head, bool keys, int n)
    {
        int dim = keys ? cache.HeadDim : cache.ValueDim;
        string field = keys ? "keys" : "values";
        int rowsPerChunk = Math.Max(1, BufferSize / (dim * 2));
        for (int t = 0; t < n; t += rowsPerChunk)
        {
            int rows = Math.Min(rowsPerChunk, n - t);
            await r.EnsureAsync(rows * dim * 2, field).ConfigureAwait(false);
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(r.Take(rows * dim * 2)), Head(cache, layer, head, keys).Slice(t * dim, rows * dim));
        }
    }

    private static void CheckEndianness()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Session states are written on little-endian machines only.");
    }

    /// <summary>Buffered, hashing writer: fields are laid out in a buffer that is hashed and written when full.</summary>
    private sealed class Writer(Stream stream, bool useAsync, CancellationToken ct, int largestItem) : IDisposable
    {
        private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(BufferSize, largestItem));
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private int _used;

        /// <summary>The next <paramref name="n"/> bytes of the buffer; <see cref="EnsureAsync"/> must have made room.</summary>
        public Span<byte> Take(int n)
        {
            var span = _buffer.AsSpan(_used, n);
            _used += n;
            return span;
        }

        public ValueTask EnsureAsync(int n) => _buffer.Length - _used >= n ? default : FlushAsync();

        private async ValueTask FlushAsync()
        {
            ct.ThrowIfCancellationRequested();
            _hash.AppendData(_buffer, 0, _used);
            await WriteAsync(_buffer.AsMemory(0, _used)).ConfigureAwait(false);
            _used = 0;
        }

        private async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes)
        {
            if (useAsync) await stream.WriteAsync(bytes, ct).ConfigureAwait(false);
            else stream.Write(bytes.Span);
        }

        public async ValueTask FinishAsync()
        {
            await FlushAsync().ConfigureAwait(false);
            await WriteAsync(_hash.GetHashAndReset()).ConfigureAwait(false);
            if (useAsync) await stream.FlushAsync(ct).ConfigureAwait(false);
            else stream.Flush();
        }

        public void Dispose()
        {
            _hash.Dispose();
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }

    /// <summary>Buffered, hashing reader that never reads past <see cref="KnownEnd"/> (or past the field asked for, before it is known).</summary>
    private sealed class Reader(Stream stream, bool useAsync, CancellationToken ct, int largestItem) : IDisposable
    {
        private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(BufferSize, largestItem));
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private int _start, _end;

        /// <summary>Bytes of the state consumed so far.</summary>
        public long Offset { get; private set; }

        /// <summary>Offset of the state's end once the header told it; reads may run ahead up to it.</summary>
        public long KnownEnd { get; set; } = -1;

        /// <summary>Makes <paramref name="n"/> bytes available, or throws naming <paramref name="field"/> when the stream ends first.</summary>
        public async ValueTask EnsureAsync(int n, string field)
        {
            if (_end - _start >= n) return;
            ct.ThrowIfCancellationRequested();
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
            long streamPos = Offset + _end;
            long target = Math.Min(_buffer.Length, Math.Max(n, KnownEnd > streamPos ? KnownEnd - Offset : n));
            while (_end < n)
            {
                int max = (int)(target - _end);
                int read = useAsync
                    ? await stream.ReadAsync(_buffer.AsMemory(_end, max), ct).ConfigureAwait(false)
                    : stream.Read(_buffer, _end, max);
                if (read == 0)
                    throw new SessionStateException($"The state ends after {Offset + _end} bytes, in the middle of '{field}': it is truncated", field, Offset);
                _end += read;
            }
        }

        public ReadOnlySpan<byte> Take(int n)
        {
            var span = TakeUnhashed(n);
            _hash.AppendData(span);
            return span;
        }

        public ReadOnlySpan<byte> TakeUnhashed(int n)
        {
            var span = _buffer.AsSpan(_start, n);
            _start += n;
            Offset += n;
            return span;
        }

        public byte[] HashSoFar() => _hash.GetCurrentHash();

        public async ValueTask<int> ReadInt32Async(string field)
        {
            await EnsureAsync(4, field).ConfigureAwait(false);
            return BinaryPrimitives.ReadInt32LittleEndian(Take(4));
        }

        public async ValueTask<uint> ReadUInt32Async(string field)
        {
            await EnsureAsync(4, field).ConfigureAwait(false);
            return BinaryPrimitives.ReadUInt32LittleEndian(Take(4));
        }

        public async ValueTask<ushort> ReadUInt16Async(string field)
        {
            await EnsureAsync(2, field).ConfigureAwait(false);
            return BinaryPrimitives.ReadUInt16LittleEndian(Take(2));
        }

        public void Dispose()
        {
            _hash.Dispose();
            ArrayPool<byte>.Shared.Return(_buffer);
        }
    }
}
