using CompactAI.Cuda;
using CompactAI.Tensors;
using ILGPU.Runtime;

namespace CompactAI.Tests.Cuda;

/// <summary>Device discovery everywhere, and the checks that need a real CUDA device (skipped, with the reason, without one).</summary>
public sealed class CudaDeviceTests
{
    [Fact]
    public void GetDevices_ListsDevices_OrSaysWhyNot()
    {
        var devices = CudaBackend.GetDevices(out var reason);
        if (devices.Count == 0)
        {
            Assert.False(string.IsNullOrWhiteSpace(reason));
            Assert.False(CudaBackend.IsAvailable);
            Assert.Null(CudaBackend.TryCreate(0, out var why));
            Assert.Equal(reason, why);
        }
        else
        {
            Assert.Null(reason);
            Assert.All(devices, d => Assert.True(d.MemoryBytes > 0 && d.Name.Length > 0));
        }
    }

    [Fact]
    public void TryCreate_OutOfRangeIndex_ReturnsNullWithReason()
    {
        int count = CudaBackend.GetDevices(out _).Count;
        Assert.Null(CudaBackend.TryCreate(count, out var reason));
        Assert.False(string.IsNullOrWhiteSpace(reason));
        Assert.Null(CudaBackend.TryCreate(-1, out reason));
        Assert.False(string.IsNullOrWhiteSpace(reason));
    }

    [CudaFact]
    public void CudaDevice_Opens_AndMatVecMatchesCpu()
    {
        using var backend = CudaBackend.TryCreate(0, out var reason);
        Assert.True(backend is not null, reason);
        Assert.True(backend.IsCuda);
        Assert.NotNull(backend.Device);
        const int rows = 64, cols = 4096;
        foreach (var type in new[] { GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
        {
            var format = TensorFormat.For(type);
            var rng = new Random((int)type);
            var values = new float[rows * cols];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() * 2 - 1);
            var x = new float[cols];
            for (int i = 0; i < cols; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            var bytes = new byte[format.RowBytes(cols) * rows];
            if (type == GgmlType.F32) System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(bytes);
            else format.Quantize(values, bytes);
            using var w = new DeviceMatrix(backend, type, bytes, rows, cols);
            using var dx = backend.Accelerator.Allocate1D(x);
            using var dy = backend.Accelerator.Allocate1D<float>(rows);
            backend.Kernels.MatVec(w, dx.View, dy.View);
            backend.Accelerator.Synchronize();
            var y = dy.GetAsArray1D();
            var row = new float[cols];
            for (int r = 0; r < rows; r++)
            {
                format.Dequantize(bytes.AsSpan((int)(r * format.RowBytes(cols)), (int)format.RowBytes(cols)), row);
                double dot = 0, magnitude = 0;
                for (int c = 0; c < cols; c++)
                {
                    dot += (double)row[c] * x[c];
                    magnitude += Math.Abs((double)row[c] * x[c]);
                }
                Assert.True(Math.Abs(y[r] - dot) <= 1e-4 * magnitude, $"{type} row {r}: GPU {y[r]}, CPU {dot}");
            }
        }
    }

    [CudaFact]
    public void Stories260K_GreedyTokens_MatchCpuEngine_OnCudaDevice()
    {
        using var backend = CudaBackend.TryCreate(0, out var reason);
        Assert.True(backend is not null, reason);
        var (cpu, device, gap) = GreedyParity.Run(backend);
        Assert.Equal(cpu, device);
        Assert.True(gap < 1e-2f, $"largest logit difference {gap}");
    }
}
