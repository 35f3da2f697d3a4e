using CompactAI.Gguf;
using CompactAI.Tensors;
using static CompactAI.Tests.Gguf.GgufTestHelpers;

namespace CompactAI.Tests.Gguf;

/// <summary>
/// Seeded random inputs. Garbage must be refused with <see cref="GgufFormatException"/>; mutations of valid files may also
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
}
