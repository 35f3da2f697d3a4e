namespace CompactAI.Tensors.Native;

/// <summary>
/// A managed format with its hot paths moved to the native library: <see cref="Dot"/> (and, through
/// <see cref="TensorFormat.NativeTypeId"/>, whole row ranges in <see cref="MatMul"/>) and, for the activation formats,
/// <see cref="QuantizeActivations"/>. Dequantization and everything else stay with the wrapped managed format, so results match it
/// (integer sums exactly; float scale products up to summation order).
/// </summary>
internal sealed unsafe class NativeTensorFormat : TensorFormat
{
    private readonly bool _nativeDot, _nativeQuantize;
    private readonly long _actBlockBytes;
    private readonly int _actBlockSize;

    private NativeTensorFormat(TensorFormat managed) : base(managed.Type)
    {
        Managed = managed;
        _nativeDot = NativeKernels.HasDot(managed.Type);
        _nativeQuantize = managed.CanQuantize && NativeKernels.HasQuantizer(managed.Type);
        if (_nativeDot)
        {
            _actBlockSize = GgmlTypeInfo.BlockSize(managed.ActivationType);
            _actBlockBytes = GgmlTypeInfo.BlockBytes(managed.ActivationType);
        }
    }

    /// <summary>
    /// The native-backed version of <paramref name="managed"/>, or null when the library is unavailable or has no kernel
    /// for its type.
    /// </summary>
    public static NativeTensorFormat? TryCreate(TensorFormat managed)
    {
        if (managed is NativeTensorFormat n) return n;
        if (!NativeKernels.IsAvailable) return null;
        if (!NativeKernels.HasDot(managed.Type) && !(managed.CanQuantize && NativeKernels.HasQuantizer(managed.Type))) return null;
        return new NativeTensorFormat(managed);
    }

    /// <summary>The managed implementation this one wraps.</summary>
    public TensorFormat Managed { get; }

    public override GgmlType ActivationType => Managed.ActivationType;

    public override bool CanQuantize => Managed.CanQuantize;

    internal override int NativeTypeId => _nativeDot ? (int)Type : -1;

    public override void Dequantize(ReadOnlySpan<byte> src, Span<float> dst) => Managed.Dequantize(src, dst);

    /// <summary>The reference quantizer (weights): the managed one, as the native Q8_0/Q8_1 quantizers round as activations.</summary>
    public override void Quantize(ReadOnlySpan<float> src, Span<byte> dst) => Managed.Quantize(src, dst);

    internal override void QuantizeActivations(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (!_nativeQuantize)
        {
            Managed.QuantizeActivations(src, dst);
            return;
        }
        int n = src.Length / BlockSize * BlockSize;
        if (dst.Length < RowBytes(n)) ThrowTooShort(nameof(dst));
        fixed (float* x = src)
        fixed (byte* y = dst)
        {
            NativeKernels.Quantize(Type, x, y, n);
        }
    }

    public override float Dot(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        if (!_nativeDot) return Managed.Dot(weights, activations, n);
        // The native kernel trusts its lengths: check here, once per row, what the managed kernels would fault on.
        if ((uint)n % (uint)BlockSize != 0 || weights.Length < RowBytes(n)) ThrowTooShort(nameof(weights));
        if (activations.Length < n / _actBlockSize * _actBlockBytes) ThrowTooShort(nameof(activations));
        fixed (byte* w = weights, a = activations)
        {
            return NativeKernels.Dot(Type, w, a, n);
        }
    }

    private static void ThrowTooShort(string name) =>
        throw new ArgumentException("The row is shorter than n elements, or n is not a whole number of blocks.", name);
}
