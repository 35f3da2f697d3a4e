// Managed vs native matrix-vector throughput on one thread: GB/s of weights streamed through the dot kernels.
// Run: dotnet run scripts/bench-native/CompactAI.Benchmarks.cs   (builds the native library first via CompactAI's build)
// The file name gives the assembly name CompactAI.Benchmarks, which CompactAI's InternalsVisibleTo admits.
#:project ../../src/CompactAI/CompactAI.csproj
#:property AllowUnsafeBlocks=true
#:property TreatWarningsAsErrors=false
#:property PublishAot=false
using System.Diagnostics;
using CompactAI.Tensors;
using CompactAI.Tensors.Formats;
using CompactAI.Tensors.Native;
using CompactAI.Threading;

const int Rows = 2048, Cols = 2048;
Console.WriteLine($"native: {(NativeKernels.IsAvailable ? NativeKernels.Features : "unavailable: " + NativeKernels.LoadError)}");
Console.WriteLine($"{Rows}x{Cols} matvec, 1 thread, GB/s of weights (fastest of 300 runs: the machine may be shared)");
foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K })
{
    var managed = BuiltInFormats.Create().Single(f => f.Type == type);
    var act = BuiltInFormats.Create().Single(f => f.Type == managed.ActivationType);
    var rng = new Random(1);
    var x = new float[Rows * Cols];
    for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
    long rowBytes = managed.RowBytes(Cols);
    var w = GC.AllocateUninitializedArray<byte>((int)(Rows * rowBytes), pinned: true);
    for (int r = 0; r < Rows; r++) managed.Quantize(x.AsSpan(r * Cols, Cols), w.AsSpan((int)(r * rowBytes), (int)rowBytes));
    var v = new float[Cols];
    for (int i = 0; i < Cols; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
    var y = new float[Rows * 4];
    var v4 = new float[Cols * 4];
    for (int i = 0; i < v4.Length; i++) v4[i] = (float)(rng.NextDouble() * 2 - 1);
    using var pool = new WorkerPool(1);
    var matmul = new MatMul(pool);
    double gb = Rows * rowBytes / 1e9;
    unsafe
    {
        fixed (byte* pw = w)
        {
            var wm = new WeightMatrix(pw, Rows, Cols, managed);
            Report(type, "managed MatMul", gb, () => matmul.Compute(wm, v, 1, y));
            Report(type, "managed MatMul batch 4", gb, () => matmul.Compute(wm, v4, 4, y));
            if (!NativeKernels.IsAvailable) continue;
            var native = NativeTensorFormat.TryCreate(managed)!;
            var wn = new WeightMatrix(pw, Rows, Cols, native);
            var qa = new byte[act.RowBytes(Cols)];
            act.Quantize(v, qa);
            Report(type, "native per-row Dot", gb, () =>
            {
                for (int r = 0; r < Rows; r++) y[r] = native.Dot(w.AsSpan((int)(r * rowBytes), (int)rowBytes), qa, Cols);
            });
            int best = NativeKernels.SetMaxIsa(int.MaxValue);
            for (int isa = best; isa >= 0; isa--)
            {
                NativeKernels.SetMaxIsa(isa);
                string name = isa switch { 2 => "avx512vnni", 1 => "avx2", _ => "scalar" };
                Report(type, $"native MatMul ({name})", gb, () => matmul.Compute(wn, v, 1, y));
                if (isa == best) Report(type, $"native MatMul batch 4", gb, () => matmul.Compute(wn, v4, 4, y));
            }
            NativeKernels.SetMaxIsa(int.MaxValue);
        }
    }
}

static void Report(GgmlType type, string what, double gb, Action run)
{
    for (int i = 0; i < 10; i++) run();
    double best = double.MaxValue;
    for (int rep = 0; rep < 300; rep++)
    {
        long t0 = Stopwatch.GetTimestamp();
        run();
        best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
    }
    Console.WriteLine($"{type,-5} {what,-28} {best * 1e3,8:F3} ms  {gb / best,7:F2} GB/s");
}
