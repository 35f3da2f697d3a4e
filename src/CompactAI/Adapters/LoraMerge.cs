using System.Runtime.InteropServices;
using CompactAI.Gguf;
using CompactAI.Models;
using CompactAI.Tensors;
using CompactAI.Tensors.Quantization;

namespace CompactAI;

public sealed partial class LoraAdapter
{
    /// <summary>
    /// Writes the base model with this adapter merged in: every adapted matrix becomes W + s·B·A (s = <see cref="Alpha"/> /
    /// rank × <paramref name="scale"/>, as at run time), computed in F32, and is stored as F32 when the base tensor is F32 and as
    /// F16 otherwise (as llama.cpp's <c>llama-export-lora</c> does). All other tensors and the metadata are copied unchanged.
    /// The result runs without the adapter and gives what the base gives with the adapter at <paramref name="scale"/>.
    /// </summary>
    /// <param name="outputPath">The GGUF file to write (overwritten); not the base model's file.</param>
    /// <param name="scale">The user scale to merge at (1: as trained).</param>
    /// <param name="cancellationToken">Checked between tensors; a cancelled merge deletes the output.</param>
    /// <exception cref="ArgumentException"><paramref name="outputPath"/> is the base model's file, or the scale is not finite.</exception>
    public void MergeInto(string outputPath, float scale = 1f, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        if (!float.IsFinite(scale)) throw new ArgumentException($"The scale is {scale}; it must be finite.", nameof(scale));
        var file = Model.File;
        if (file.FilePath is { } basePath && string.Equals(Path.GetFullPath(basePath), Path.GetFullPath(outputPath), StringComparison.Ordinal))
            throw new ArgumentException("The output must be a different file from the base model.", nameof(outputPath));

        var pairs = Pairs().ToDictionary(p => p.BaseTensor, p => p.Pair, StringComparer.Ordinal);
        var writer = new GgufWriter(file.Alignment);
        foreach (var (key, value) in file.Metadata)
        {
            if (key is "general.alignment" or "split.no" or "split.count" or "split.tensors.count") continue;
            writer.Add(key, value);
        }
        try
        {
            foreach (var t in file.Tensors)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var dims = t.Dimensions.ToArray();
                if (!pairs.TryGetValue(t.Name, out var pair))
                {
                    writer.AddTensor(t.Name, t.Type, dims, new ModelQuantizer.MappedMemory(file, t).Memory);
                    continue;
                }
                var type = t.Type == GgmlType.F32 ? GgmlType.F32 : GgmlType.F16;
                writer.AddTensor(t.Name, type, dims, Merged(file, t, pair, pair.Scale(Alpha, scale), type, t.Name == "token_embd.weight"));
            }
            cancellationToken.ThrowIfCancellationRequested();
            writer.WriteTo(outputPath);
        }
        catch (OperationCanceledException)
        {
            try { File.Delete(outputPath); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>W + s·B·A of one base tensor ([rows × columns] = GGUF [ne0 = columns, ne1 = rows]), in <paramref name="type"/>.</summary>
    private static byte[] Merged(GgufFile file, GgufTensorInfo t, LoraPair pair, float s, GgmlType type, bool embedding)
    {
        int columns = (int)t.Dimensions[0], rows = (int)t.Dimensions[1], rank = pair.Rank;
        if (!TensorFormat.IsSupported(t.Type)) throw new NotSupportedException($"Base tensor '{t.Name}' is {t.Type}, which this engine cannot dequantize.");
        var baseFormat = TensorFormat.For(t.Type);
        var outFormat = TensorFormat.For(type);
        long inRow = baseFormat.RowBytes(columns), outRow = outFormat.RowBytes(columns);
        var a = Dense(pair.A.Matrix);
        var b = Dense(pair.B.Matrix);
        var source = file.GetTensorBytes(t);
        var result = new byte[outRow * rows];
        var row = new float[columns];
        for (int r = 0; r < rows; r++)
        {
            baseFormat.Dequantize(source.Slice((int)(r * inRow), (int)inRow), row);
            for (int c = 0; c < columns; c++)
            {
                // Projection: W[r, c] += s·Σk B[r, k]·A[k, c]. Token embedding (A [vocab × rank], B [embd × rank]): W[token r, c] += s·Σk B[c, k]·A[r, k].
                float sum = 0;
                if (embedding)
                    for (int k = 0; k < rank; k++) sum += b[c * rank + k] * a[r * rank + k];
                else
                    for (int k = 0; k < rank; k++) sum += b[r * rank + k] * a[k * columns + c];
                row[c] += s * sum;
            }
            outFormat.Quantize(row, result.AsSpan((int)(r * outRow), (int)outRow));
        }
        return result;
    }

    private static float[] Dense(WeightMatrix m)
    {
        var values = new float[(long)m.Rows * m.Columns];
        for (int r = 0; r < m.Rows; r++) m.DequantizeRow(r, values.AsSpan(r * m.Columns, m.Columns));
        return values;
    }
}
