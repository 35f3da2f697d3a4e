using CompactAI.Tensors.Formats;
using CompactAI.Tensors.Native;

namespace CompactAI.Tensors;

/// <summary>
/// One set of format implementations, built once and then only read (no lock): the managed kernels (<see cref="Managed"/>)
/// or the same formats with the native library's kernels where it has one (<see cref="Native"/>). A model takes the set its
/// <see cref="CompactModelOptions.CpuKernels"/> selects (<see cref="Select"/>); each format knows its activation format in the
/// same set (<see cref="TensorFormat.ActivationFormat"/>), so a matrix product looks nothing up.
/// </summary>
internal sealed class FormatSet
{
    private static readonly Lazy<FormatSet> s_managed = new(() => new FormatSet(BuiltInFormats.Create(), native: false));
    private static readonly Lazy<FormatSet> s_native = new(() => new FormatSet(
        BuiltInFormats.Create().Select(f => (TensorFormat?)NativeTensorFormat.TryCreate(f) ?? f), native: NativeKernels.IsAvailable));
    private static readonly Lazy<FormatSet> s_default = new(() => Select(KernelDefaults.CpuKernels, KernelDefaults.NativeLibraryPath));

    private readonly TensorFormat?[] _formats;

    private FormatSet(IEnumerable<TensorFormat> formats, bool native)
    {
        var list = formats.ToList();
        _formats = new TensorFormat?[list.Max(f => (int)f.Type) + 1];
        foreach (var f in list) _formats[(int)f.Type] = f;
        foreach (var f in list) f.ActivationFormat = For(f.ActivationType);
        IsNative = native;
    }

    /// <summary>The managed kernels.</summary>
    public static FormatSet Managed => s_managed.Value;

    /// <summary>The native library's kernels where it has one for a format (loading the library with its default path), managed ones otherwise.</summary>
    public static FormatSet Native => s_native.Value;

    /// <summary>The set of the process's defaults (<see cref="KernelDefaults"/>): what <see cref="TensorFormat.For"/> returns formats of.</summary>
    public static FormatSet Default => s_default.Value;

    /// <summary>True for <see cref="Native"/> with the library loaded: attention then runs the native loop too.</summary>
    public bool IsNative { get; }

    /// <summary>The set <paramref name="kernels"/> selects, loading the native library from <paramref name="nativeLibraryPath"/> (null: the default places) unless it is <see cref="CpuKernels.Managed"/>.</summary>
    /// <exception cref="BackendUnavailableException"><see cref="CpuKernels.Native"/> and the library cannot be loaded (the reason says why).</exception>
    /// <exception cref="InvalidOperationException">The library is already loaded from another path.</exception>
    public static FormatSet Select(CpuKernels kernels, string? nativeLibraryPath)
    {
        switch (kernels)
        {
            case CpuKernels.Managed:
                return Managed;
            case CpuKernels.Native:
                if (!NativeKernels.EnsureLoaded(nativeLibraryPath))
                    throw new BackendUnavailableException(ComputeBackend.Cpu, $"native CPU kernels were requested (CpuKernels = Native) but {NativeKernels.LoadError}");
                return Native;
            default:
                NativeKernels.EnsureLoaded(nativeLibraryPath);
                return NativeKernels.IsAccelerated ? Native : Managed;
        }
    }

    /// <summary>True when this set has an implementation of <paramref name="type"/>.</summary>
    public bool IsSupported(GgmlType type) => (uint)type < (uint)_formats.Length && _formats[(int)type] is not null;

    /// <summary>The implementation of <paramref name="type"/>.</summary>
    /// <exception cref="NotSupportedException">The type is known to GGUF but not implemented here; the message names it.</exception>
    public TensorFormat For(GgmlType type)
    {
        if ((uint)type < (uint)_formats.Length && _formats[(int)type] is { } f) return f;
        var supported = string.Join(", ", _formats.Where(x => x is not null).Select(x => x!.Type));
        throw new NotSupportedException($"Tensor type {type} (id {(uint)type}) is not supported by CompactAI. Supported types: {supported}.");
    }
}
