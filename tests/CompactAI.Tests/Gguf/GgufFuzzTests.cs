using System.Buffers.Binary;
using System.Diagnostics;
using CompactAI.Gguf;
using CompactAI.Inference;
using CompactAI.Sampling;
using CompactAI.Tensors;
using CompactAI.Tokenization;
using static CompactAI.Tests.Gguf.GgufTestHelpers;

namespace CompactAI.Tests.Gguf;

/// <summary>
/// Seeded random inputs (and, at the end, structured mutations of real files loaded end to end). Garbage must be refused with <see cref="GgufFormatException"/>; mutations of valid files may also
/// parse (then the result must be self-consistent), but no other exception type may escape, nothing may hang (the test
/// timeouts), and no parse may allocate more than 64 KiB + 8 × the input size.
/// </summary>
public class GgufFuzzTests
{
    private const int Timeout = 120_000;

    private static readonly ulong[] Interesting =
    [
        0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 31, 32, 33, 64, 255, 256, 0x7F, 0x80, 0xFF, 0xFFFF, 0x1_0000,
        int.MaxValue, (ulong)int.MaxValue + 1, uint.MaxValue, (ulong)uint.MaxValue + 1, long.MaxValue, (ulong)long.MaxValue + 1,
        ulong.MaxValue, ulong.MaxValue - 31,
    ];

    /// <summary>A richer valid file than <see cref="SmallValidFile"/>: every value type, nested arrays, 4 tensors, alignment 64.</summary>
    private static byte[] RichValidFile()
    {
        var w = new GgufWriter(alignment: 64);
        foreach (var (k, v) in GgufRoundTripTests.AllValues()) w.Add(k, v);
        var rng = new Random(7);
        foreach (var (name, type, dims, size) in GgufRoundTripTests.AllTensors())
        {
            var data = new byte[size];
            rng.NextBytes(data);
            w.AddTensor(name, type, dims, data);
        }
        return Write(w);
    }

    private static void AcceptOrRefuse(byte[] input, string what)
    {
        var (error, allocated) = Parse(input);
        if (error is not null and not GgufFormatException)
            throw new Xunit.Sdk.XunitException($"{what}: {error.GetType().Name} escaped: {error}");
        long bound = 64 * 1024 + 8L * input.Length;
        // A one-off allocation of the runtime (the first throw through a new path, lazily loaded resources) is not the
        // parser's: the least of two parses of the same input is what the parser allocates every time.
        if (allocated >= bound) allocated = Math.Min(allocated, Parse(input).Allocated);
        Assert.True(allocated < bound, $"{what}: parsing {input.Length} bytes allocated {allocated} (bound {bound}); outcome: {error?.Message ?? "accepted"}");
    }

    [Fact(Timeout = Timeout)]
    public async Task RandomGarbage_IsRefused()
    {
        await Task.Run(() =>
        {
            var rng = new Random(20261124);
            for (int iter = 0; iter < 3000; iter++)
            {
                var bytes = new byte[rng.Next(0, 400)];
                rng.NextBytes(bytes);
                if (iter % 3 == 1 && bytes.Length >= 8)
                {
                    "GGUF"u8.CopyTo(bytes);
                    BitConverter.TryWriteBytes(bytes.AsSpan(4), 3u);
                }
                Refused(bytes);
            }
        });
    }

    [Fact(Timeout = Timeout)]
    public async Task ValidHeaderThenRandomRest_IsRefused()
    {
        await Task.Run(() =>
        {
            var rng = new Random(42);
            for (int iter = 0; iter < 3000; iter++)
            {
                // Small, plausible counts (at least one KV or tensor), so that parsing gets past the header; the next
                // field is then a 64-bit string length drawn at random, which cannot fit.
                ulong tensors = (ulong)rng.Next(0, 4), kvs = (ulong)rng.Next(tensors == 0 ? 1 : 0, 4);
                var rest = new byte[rng.Next(0, 600)];
                rng.NextBytes(rest);
                Refused(new GgufBytes().Header(tensors, kvs, version: (uint)rng.Next(2, 4)).Raw(rest).ToArray());
            }
        });
    }

    [Fact(Timeout = Timeout)]
    public async Task WellFormedKeyThenRandomValue_IsAcceptedOrRefused()
    {
        await Task.Run(() =>
        {
            var rng = new Random(43);
            int refused = 0;
            for (int iter = 0; iter < 3000; iter++)
            {
                // A well-formed key of a random (possibly unknown) type, so that the value readers see garbage. A scalar
                // of random bits is a valid value, so such a file may parse; arrays, strings and unknown types must not crash.
                ulong kvs = (ulong)rng.Next(1, 4);
                var head = new GgufBytes().Header(0, kvs).Key("k", (uint)rng.Next(0, 15));
                if (rng.Next(2) == 0) head.U32((uint)rng.Next(0, 14)).U64((ulong)rng.Next(0, 64)); // plausible array header
                var rest = new byte[rng.Next(0, 600)];
                rng.NextBytes(rest);
                var bytes = head.Raw(rest).ToArray();
                if (Parse(bytes).Error is not null) refused++;
                AcceptOrRefuse(bytes, $"iteration {iter}");
            }
            Assert.InRange(refused, 1000, 3000);
        });
    }

    [Fact(Timeout = Timeout)]
    public async Task RandomByteFlipsOfValidFiles_AreAcceptedOrRefused()
    {
        await Task.Run(() =>
        {
            var rng = new Random(1234);
            foreach (var original in new[] { SmallValidFile(), RichValidFile() })
            {
                int accepted = 0, refused = 0;
                for (int iter = 0; iter < 2000; iter++)
                {
                    var bytes = (byte[])original.Clone();
                    int flips = rng.Next(1, 5);
                    for (int k = 0; k < flips; k++)
                    {
                        int at = rng.Next(bytes.Length);
                        switch (rng.Next(3))
                        {
                            case 0: bytes[at] ^= (byte)(1 << rng.Next(8)); break;
                            case 1: bytes[at] = (byte)rng.Next(256); break;
                            default: bytes[at] = (byte)(rng.Next(2) == 0 ? 0 : 0xFF); break;
                        }
                    }
                    var (error, _) = Parse(bytes);
                    if (error is null) accepted++; else refused++;
                    AcceptOrRefuse(bytes, $"flip iteration {iter}");
                }
                // Both outcomes occur: the mutations reach fields that matter and fields that do not (tensor data).
                Assert.True(accepted > 0 && refused > 0, $"accepted {accepted}, refused {refused}");
            }
        });
    }

    [Fact(Timeout = Timeout)]
    public async Task InterestingValuesWrittenOverHeaderFields_AreAcceptedOrRefused()
    {
        await Task.Run(() =>
        {
            var rng = new Random(99);
            var original = RichValidFile();
            using var parsed = GgufFile.FromBytes(original);
            int headerEnd = (int)parsed.DataOffset;
            for (int iter = 0; iter < 3000; iter++)
            {
                var bytes = (byte[])original.Clone();
                int at = rng.Next(0, headerEnd - 8);
                ulong v = Interesting[rng.Next(Interesting.Length)];
                if (rng.Next(2) == 0) BitConverter.TryWriteBytes(bytes.AsSpan(at), (uint)v);
                else BitConverter.TryWriteBytes(bytes.AsSpan(at), v);
                AcceptOrRefuse(bytes, $"overwrite at {at} with {v}");
                // And a truncation of the same mutation.
                AcceptOrRefuse(bytes[..rng.Next(0, bytes.Length)], $"truncated overwrite at {at}");
            }
        });
    }

    [Fact(Timeout = Timeout)]
    public async Task Stories260K_HeaderMutations_AreAcceptedOrRefused()
    {
        await Task.Run(() =>
        {
            var original = File.ReadAllBytes(TestData.Stories260K);
            var bytes = (byte[])original.Clone();
            const int headerEnd = 14_176; // data section offset (see Stories260KTests)
            var rng = new Random(260);
            for (int iter = 0; iter < 300; iter++)
            {
                int at = rng.Next(0, headerEnd - 8);
                var saved = bytes.AsSpan(at, 8).ToArray();
                if (rng.Next(2) == 0) bytes[at] ^= (byte)(1 << rng.Next(8));
                else BitConverter.TryWriteBytes(bytes.AsSpan(at), Interesting[rng.Next(Interesting.Length)]);
                AcceptOrRefuse(bytes, $"stories260K mutation at {at}");
                saved.CopyTo(bytes.AsSpan(at));
            }
            Assert.Equal(original, bytes);
        });
    }

    // ------------------------------------------------------------------ structured mutations, loaded end to end

    /// <summary>
    /// Seeded structured mutations of stories260K (bit flips, boundary values over header fields and scalar values,
    /// truncations, removed and duplicated KV pairs, changed tensor offsets, dimensions and types, changed value types),
    /// each loaded with <see cref="CompactModel.Load"/> and, when accepted, asked for 4 greedy tokens. Every case is
    /// accepted or refused with an exception <see cref="CompactModel.Load"/> documents (<see cref="GgufFormatException"/>,
    /// <see cref="NotSupportedException"/>), within 5 s and 8 × the file size of managed allocation.
    /// </summary>
    [Fact(Timeout = Timeout)]
    public async Task Stories260K_StructuredMutations_LoadAndGenerateOrAreRefused()
    {
        await Task.Run(() =>
        {
            var outcome = RunMutations(TestData.Stories260K, cases: 140, seed: 14_260, bytes =>
            {
                string path = Path.Combine(Path.GetTempPath(), $"compactai-fuzz-{Guid.NewGuid():N}.gguf");
                File.WriteAllBytes(path, bytes);
                try
                {
                    using var model = CompactModel.Load(path, new CompactModelOptions { Threads = 1, ContextSize = 32 });
                    using var session = model.CreateSession();
                    var result = session.GenerateTextAsync("Once upon a time", new GenerationOptions { MaxTokens = 4, Sampling = SamplingOptions.Greedy })
                        .GetAwaiter().GetResult();
                    Assert.InRange(result.Tokens.Count, 0, 4);
                }
                finally
                {
                    File.Delete(path);
                }
            });
            Assert.True(outcome.Accepted > 0 && outcome.Refused > 0, $"accepted {outcome.Accepted}, refused {outcome.Refused}");
        });
    }

    /// <summary>The same mutations of a vocabulary-only GGUF (GPT-2 BPE), each loaded as a tokenizer that then encodes and decodes.</summary>
    [Fact(Timeout = Timeout)]
    public async Task VocabFile_StructuredMutations_TokenizeOrAreRefused()
    {
        await Task.Run(() =>
        {
            var outcome = RunMutations(TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf"), cases: 40, seed: 14_002, bytes =>
            {
                using var file = GgufFile.FromBytes(bytes);
                var tokenizer = ModelTokenizer.FromGguf(file);
                var ids = tokenizer.Encode("Once upon a time, 42 cats ñ 日本", addSpecial: true);
                _ = tokenizer.Decode(ids);
            });
            Assert.True(outcome.Accepted > 0 && outcome.Refused > 0, $"accepted {outcome.Accepted}, refused {outcome.Refused}");
        });
    }

    private static (int Accepted, int Refused) RunMutations(string source, int cases, int seed, Action<byte[]> load)
    {
        var original = File.ReadAllBytes(source);
        var layout = GgufLayout.Of(original);
        var rng = new Random(seed);
        int accepted = 0, refused = 0;
        var failures = new List<string>();
        for (int i = 0; i < cases; i++)
        {
            var (bytes, what) = Mutate(original, layout, rng);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var watch = Stopwatch.StartNew();
            try
            {
                load(bytes);
                accepted++;
            }
            catch (Exception e) when (e is GgufFormatException or NotSupportedException)
            {
                refused++;
            }
            catch (Exception e)
            {
                failures.Add($"case {i} ({what}): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (watch.Elapsed > TimeSpan.FromSeconds(5)) failures.Add($"case {i} ({what}): took {watch.Elapsed.TotalSeconds:F1} s");
            if (allocated > 8L * original.Length) failures.Add($"case {i} ({what}): allocated {allocated} bytes (bound {8L * original.Length})");
        }
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        return (accepted, refused);
    }

    private static readonly float[] InterestingFloats = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -1f, -0f, 0f, float.Epsilon, 1e38f, -1e-5f];

    /// <summary>One mutation drawn from <paramref name="rng"/>, and its description.</summary>
    private static (byte[] Bytes, string What) Mutate(byte[] original, GgufLayout layout, Random rng)
    {
        int kind = rng.Next(10);
        if (layout.Tensors.Count == 0 && kind is >= 5 and <= 7) kind = 8; // a vocabulary file has no tensors to change
        switch (kind)
        {
            case 0:
            {
                var bytes = (byte[])original.Clone();
                int at = rng.Next(layout.DataOffset);
                bytes[at] ^= (byte)(1 << rng.Next(8));
                return (bytes, $"bit flip at {at}");
            }
            case 1:
            {
                var bytes = (byte[])original.Clone();
                int at = rng.Next(layout.DataOffset - 8);
                ulong v = Interesting[rng.Next(Interesting.Length)];
                if (rng.Next(2) == 0) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), (uint)v);
                else BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), v);
                return (bytes, $"{v} written at {at}");
            }
            case 2:
            {
                int length = rng.Next(2) == 0 ? rng.Next(layout.DataOffset) : rng.Next(layout.DataOffset, original.Length);
                return (original[..length], $"truncated to {length}");
            }
            case 3:
            {
                int k = rng.Next(layout.Kvs.Count);
                return (layout.Rebuild(original, removeKv: k), $"KV {k} ({layout.Kvs[k].Key}) removed");
            }
            case 4:
            {
                int k = rng.Next(layout.Kvs.Count);
                return (layout.Rebuild(original, duplicateKv: k), $"KV {k} ({layout.Kvs[k].Key}) duplicated");
            }
            case 5:
            {
                var bytes = (byte[])original.Clone();
                var t = layout.Tensors[rng.Next(layout.Tensors.Count)];
                ulong old = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(t.OffsetAt));
                ulong v = rng.Next(3) switch
                {
                    0 => Interesting[rng.Next(Interesting.Length)],
                    1 => old + (ulong)(layout.Alignment * rng.Next(-4, 5)),
                    _ => old + (ulong)rng.Next(-3, 4),
                };
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(t.OffsetAt), v);
                return (bytes, $"tensor {t.Name} offset {old} -> {v}");
            }
            case 6:
            {
                var bytes = (byte[])original.Clone();
                var t = layout.Tensors[rng.Next(layout.Tensors.Count)];
                int d = rng.Next(t.Dims);
                int at = t.DimsAt + 8 * d;
                ulong old = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
                ulong v = rng.Next(3) switch { 0 => Interesting[rng.Next(Interesting.Length)], 1 => old + 1, _ => old - 1 };
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), v);
                return (bytes, $"tensor {t.Name} dim {d} {old} -> {v}");
            }
            case 7:
            {
                var bytes = (byte[])original.Clone();
                var t = layout.Tensors[rng.Next(layout.Tensors.Count)];
                uint v = rng.Next(4) == 0 ? (uint)Interesting[rng.Next(Interesting.Length)] : (uint)rng.Next(0, 42);
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(t.TypeAt), v);
                return (bytes, $"tensor {t.Name} type -> {v}");
            }
            case 8:
            {
                // A boundary value over a scalar metadata value (counts, lengths, ids, epsilons, flags).
                var scalars = layout.Kvs.Where(kv => kv.ScalarSize > 0).ToList();
                var kv = scalars[rng.Next(scalars.Count)];
                var bytes = (byte[])original.Clone();
                var span = bytes.AsSpan(kv.ValueAt, kv.ScalarSize);
                string v;
                if (kv.Type == 6)
                {
                    float f = InterestingFloats[rng.Next(InterestingFloats.Length)];
                    BinaryPrimitives.WriteSingleLittleEndian(span, f);
                    v = f.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
                else
                {
                    ulong u = Interesting[rng.Next(Interesting.Length)];
                    Span<byte> all = stackalloc byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(all, u);
                    all[..kv.ScalarSize].CopyTo(span);
                    v = u.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
                return (bytes, $"value of {kv.Key} -> {v} (low {kv.ScalarSize} bytes)");
            }
            default:
            {
                var bytes = (byte[])original.Clone();
                var kv = layout.Kvs[rng.Next(layout.Kvs.Count)];
                uint v = (uint)rng.Next(0, 14);
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(kv.TypeAt), v);
                return (bytes, $"type of {kv.Key} -> {v}");
            }
        }
    }

    /// <summary>Where the parts of a valid GGUF v3 image lie, read independently of <see cref="GgufFile"/>.</summary>
    private sealed class GgufLayout
    {
        public sealed record Kv(string Key, int Start, int End, int TypeAt, uint Type, int ValueAt, int ScalarSize);

        public sealed record Tensor(string Name, int Start, int End, int Dims, int DimsAt, int TypeAt, int OffsetAt);

        public List<Kv> Kvs { get; } = [];

        public List<Tensor> Tensors { get; } = [];

        public int InfoEnd { get; private set; }

        /// <summary>Where the data section starts (at most the file's length).</summary>
        public int DataOffset { get; private set; }

        public int Alignment { get; private set; }

        public static GgufLayout Of(byte[] b)
        {
            var layout = new GgufLayout();
            int p = 8;
            int tensors = (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(p)); p += 8;
            int kvs = (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(p)); p += 8;
            for (int i = 0; i < kvs; i++)
            {
                int start = p;
                string key = Str(b, ref p);
                int typeAt = p;
                uint type = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p)); p += 4;
                int valueAt = p;
                int scalar = ScalarSize(type);
                SkipValue(b, ref p, type);
                layout.Kvs.Add(new Kv(key, start, p, typeAt, type, valueAt, type is 8 or 9 ? 0 : scalar));
            }
            for (int i = 0; i < tensors; i++)
            {
                int start = p;
                string name = Str(b, ref p);
                int dims = (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p)); p += 4;
                int dimsAt = p;
                p += 8 * dims;
                int typeAt = p; p += 4;
                int offsetAt = p; p += 8;
                layout.Tensors.Add(new Tensor(name, start, p, dims, dimsAt, typeAt, offsetAt));
            }
            layout.InfoEnd = p;
            using var parsed = GgufFile.FromBytes(b);
            layout.Alignment = parsed.Alignment;
            layout.DataOffset = (int)Math.Min(parsed.DataOffset, b.Length); // a file without tensors may end before its aligned data offset
            return layout;
        }

        /// <summary>The file with one KV pair removed or duplicated (count fixed), the data section re-aligned after the header.</summary>
        public byte[] Rebuild(byte[] original, int removeKv = -1, int duplicateKv = -1)
        {
            var head = new MemoryStream();
            head.Write(original, 0, 24);
            foreach (var (kv, i) in Kvs.Select((kv, i) => (kv, i)))
            {
                if (i == removeKv) continue;
                head.Write(original, kv.Start, kv.End - kv.Start);
                if (i == duplicateKv) head.Write(original, kv.Start, kv.End - kv.Start);
            }
            head.Write(original, Kvs[^1].End, InfoEnd - Kvs[^1].End);
            var bytes = head.ToArray();
            ulong count = (ulong)(Kvs.Count + (removeKv >= 0 ? -1 : 0) + (duplicateKv >= 0 ? 1 : 0));
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), count);
            int dataAt = (bytes.Length + Alignment - 1) / Alignment * Alignment;
            var result = new byte[dataAt + original.Length - DataOffset];
            bytes.CopyTo(result, 0);
            original.AsSpan(DataOffset).CopyTo(result.AsSpan(dataAt));
            return result;
        }

        private static string Str(byte[] b, ref int p)
        {
            int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(p)); p += 8;
            string s = System.Text.Encoding.UTF8.GetString(b, p, n);
            p += n;
            return s;
        }

        private static int ScalarSize(uint type) => type switch
        {
            0 or 1 or 7 => 1,
            2 or 3 => 2,
            4 or 5 or 6 => 4,
            10 or 11 or 12 => 8,
            _ => 0,
        };

        private static void SkipValue(byte[] b, ref int p, uint type)
        {
            if (type == 8) { _ = Str(b, ref p); return; }
            if (type == 9)
            {
                uint element = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(p)); p += 4;
                long count = (long)BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(p)); p += 8;
                for (long i = 0; i < count; i++) SkipValue(b, ref p, element);
                return;
            }
            p += ScalarSize(type);
        }
    }
}
