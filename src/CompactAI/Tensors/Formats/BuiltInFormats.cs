namespace CompactAI.Tensors.Formats;

/// <summary>The managed format implementations, registered at first use.</summary>
internal static class BuiltInFormats
{
    public static IEnumerable<TensorFormat> Create()
    {
        yield return new F32Format();
        yield return new F16Format();
        yield return new BF16Format();
    }
}
