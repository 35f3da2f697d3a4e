namespace CompactAI.Tensors.Formats;

/// <summary>The managed format implementations, registered at first use.</summary>
internal static class BuiltInFormats
{
    public static IEnumerable<TensorFormat> Create()
    {
        yield return new F32Format();
        yield return new F16Format();
        yield return new BF16Format();
        yield return new Q4_0Format();
        yield return new Q4_1Format();
        yield return new Q5_0Format();
        yield return new Q5_1Format();
        yield return new Q8_0Format();
        yield return new Q8_1Format();
        yield return new Q2_KFormat();
        yield return new Q3_KFormat();
        yield return new Q4_KFormat();
        yield return new Q5_KFormat();
        yield return new Q6_KFormat();
        yield return new Q8_KFormat();
    }
}
