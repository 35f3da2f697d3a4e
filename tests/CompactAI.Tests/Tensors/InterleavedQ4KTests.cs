using CompactAI.Models.Synthetic;
using CompactAI.Tensors;
using CompactAI.Tensors.Formats;
using CompactAI.Tensors.Native;
using CompactAI.Tensors.Quantization;
using CompactAI.Threading;

namespace CompactAI.Tests.Tensors;

/// <summary>
/// The interleaved Q4_K layout (eight rows at a time) and its native kernel: the repack moves bytes without changing a row
/// (rows gathered back are the original bytes), products equal the row-major Q4_K products of the managed reference at every
/// instruction-set level and batch size, and a model loaded with interleaving gives the logits of one loaded without.
/// </summary>
[Collection(nameof(NativeKernelTestsCollection))]
public sealed class InterleavedQ4KTests
{
    private static readonly TensorFormat s_q4k = BuiltInFormats.Create().Single(f => f.Type == GgmlType.Q4_K);

    /// <summary>A rows × columns Q4_K matrix quantized from Gaussian rows by the managed (reference) quantizer.</summary>
    private static byte[] Matrix(int rows, int columns, int seed)
    {
        long rowBytes = s_q4k.RowBytes(columns);
        var w = new byte[rows * rowBytes];
        var rng = new Random(seed);
        var x = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < columns; i++) x[i] = (float)(rng.NextDouble() * 2 - 1) * (1 + (i % 7));
            s_q4k.Quantize(x, w.AsSpan((int)(r * rowBytes), (int)rowBytes));
        }
        return w;
    }

    [NativeFact]
    public unsafe void RepackMovesBytesAndEveryRowGathersBackUnchanged()
    {
        const int rows = 16, columns = 512;
        var w = Matrix(rows, columns, seed: 1);
        var copy = new byte[w.Length];
        int rowBytes = (int)s_q4k.RowBytes(columns);
        var row = new byte[rowBytes];
        fixed (byte* pw = w, pc = copy)
        {
            var interleaved = InterleavedQ4KFormat.Interleave(new WeightMatrix(pw, rows, columns, NativeTensorFormat.TryCreate(s_q4k)!), pc);
            Assert.Equal(8, interleaved.Format.RowGroup);
            Assert.NotEqual(w, copy); // the layout differs...
            Assert.Equal(w.Order(), copy.Order()); // ...by moving bytes only
            for (int r = 0; r < rows; r++)
            {
                interleaved.CopyRow(r, row);
                Assert.True(w.AsSpan(r * rowBytes, rowBytes).SequenceEqual(row), $"row {r}");
            }
            var expected = new float[columns];
            var actual = new float[columns];
            s_q4k.Dequantize(w.AsSpan(5 * rowBytes, rowBytes), expected);
            interleaved.DequantizeRow(5, actual);
            Assert.Equal(expected, actual);
            Assert.Throws<InvalidOperationException>(() => interleaved.Row(0));
        }
    }

    [NativeFact]
    public unsafe void OnlyWholeGroupsOfNativeQ4KRowsInterleave()
    {
        byte b = 0;
        var native = NativeTensorFormat.TryCreate(s_q4k)!;
        Assert.True(InterleavedQ4KFormat.CanInterleave(new WeightMatrix(&b, 16, 256, native)));
        Assert.False(InterleavedQ4KFormat.CanInterleave(new WeightMatrix(&b, 12, 256, native))); // not whole groups
        Assert.False(InterleavedQ4KFormat.CanInterleave(new WeightMatrix(&b, 16, 256, s_q4k))); // managed kernels in use
        var q6 = NativeTensorFormat.TryCreate(BuiltInFormats.Create().Single(f => f.Type == GgmlType.Q6_K))!;
        Assert.False(InterleavedQ4KFormat.CanInterleave(new WeightMatrix(&b, 16, 256, q6)));
        // The native entry refuses row ranges that split a group.
        float y = 0;
        Assert.False(NativeKernels.MatMulRows((GgmlType)NativeKernels.Q4KX8TypeId, &b, 144, 256, 4, 8, &b, 292, 1, &y, 8));
    }

    public static TheoryData<int> Batches() => new() { 1, 3, 4, 7, 9 };

    [NativeTheory]
    [MemberData(nameof(Batches))]
    public unsafe void ProductsEqualTheManagedRowKernelAtEveryLevel(int batch)
    {
        const int rows = 48, columns = 768;
        var w = Matrix(rows, columns, seed: 2);
        var copy = new byte[w.Length];
        var rng = new Random(3);
        var x = new float[batch * columns];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var expected = new float[batch * rows];
        var actual = new float[batch * rows];
        using var pool = new WorkerPool(2);
        var matmul = new MatMul(pool);
        int best = NativeKernels.SetMaxIsa(int.MaxValue);
        fixed (byte* pw = w, pc = copy)
        {
            matmul.Compute(new WeightMatrix(pw, rows, columns, s_q4k), x, batch, expected);
            var interleaved = InterleavedQ4KFormat.Interleave(new WeightMatrix(pw, rows, columns, NativeTensorFormat.TryCreate(s_q4k)!), pc);
            try
            {
                for (int level = 0; level <= best; level++)
                {
                    Assert.Equal(level, NativeKernels.SetMaxIsa(level));
                    Array.Clear(actual);
                    matmul.Compute(interleaved, x, batch, actual);
                    for (int i = 0; i < expected.Length; i++)
                    {
                        // Integer sums are exact; only the float accumulation of super-block terms is ordered differently.
                        Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-5 * (1 + Math.Abs(expected[i])),
                            $"level {level}, batch row {i / rows}, row {i % rows}: {actual[i]} vs {expected[i]}");
                    }
                }
            }
            finally
            {
                NativeKernels.SetMaxIsa(int.MaxValue);
            }
        }
    }

    [NativeFact]
    public async Task AModelGivesTheSameLogitsWithAndWithoutInterleaving()
    {
        if (!NativeKernels.IsAccelerated) return; // the engine prefers managed kernels over a scalar-only library
        string dir = Directory.CreateTempSubdirectory("compactai-x8-").FullName;
        try
        {
            string path = Path.Combine(dir, "small-llama-q4_k_m.gguf");
            CompactAI.Models.Synthetic.SyntheticModel.Write(ModelShape.For("small-llama"), QuantizationPreset.Q4_K_M, TestData.TokenizerVectors("ggml-vocab-gpt-2.gguf"), path, seed: 4);
            int[] prompt = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13];
            var options = new CompactModelOptions { Threads = 2, ContextSize = 64, Backend = ComputeBackend.Cpu, CpuKernels = CpuKernels.Auto };
            float[] plain, interleaved;
            int plainGroups, interleavedGroups;
            using (var model = CompactModel.Load(path, options with { InterleaveWeights = false }))
            {
                plainGroups = model.Weights.Layers.Count(l => l.Up.Format.RowGroup == 8);
                using var session = model.CreateSession();
                plain = await session.GetNextTokenLogitsAsync(prompt);
            }
            using (var model = CompactModel.Load(path, options with { InterleaveWeights = true }))
            {
                interleavedGroups = model.Weights.Layers.Count(l => l.Up.Format.RowGroup == 8);
                using var session = model.CreateSession();
                interleaved = await session.GetNextTokenLogitsAsync(prompt);
            }
            Assert.Equal(0, plainGroups);
            Assert.Equal(2, interleavedGroups);
            double scale = plain.Max(v => Math.Abs(v));
            for (int i = 0; i < plain.Length; i++)
                Assert.True(Math.Abs(plain[i] - interleaved[i]) <= 1e-4 * scale, $"logit {i}: {interleaved[i]} vs {plain[i]} (max |logit| {scale})");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
