namespace CompactAI.Tensors;

/// <summary>
/// Span-based tensor operations on <see cref="float"/> rows, built on <see cref="System.Numerics.Tensors.TensorPrimitives"/>:
/// the kernels the engine's forward pass and sampler run, made public. One file per operation family
/// (<c>Tensors/Math/TensorMath.*.cs</c>); every summary states the maths.
/// </summary>
/// <remarks>
/// <para>
/// Arguments are validated at the entry and the loops behind it run without checks: inputs that must match in length
/// throw <see cref="ArgumentException"/> naming both parameters, and a destination shorter than the result throws
/// <see cref="ArgumentException"/> naming the destination. Only the first <c>x.Length</c> elements of a longer
/// destination are written.
/// </para>
/// <para>
/// Operations that write a destination may run in place: the destination may be the very span of the input (same start),
/// but a destination that partially overlaps an input throws <see cref="ArgumentException"/>.
/// </para>
/// <para>All methods are thread-safe and allocate nothing on the managed heap.</para>
/// </remarks>
public static partial class TensorMath
{
    private static void CheckSameLength(int xLength, int yLength, string xName, string yName)
    {
        if (xLength != yLength) ThrowLengthMismatch(xLength, yLength, xName, yName);
    }

    private static void CheckDestination(ReadOnlySpan<float> source, Span<float> destination, string sourceName, string destinationName)
    {
        if (destination.Length < source.Length) ThrowDestinationTooShort(source.Length, destination.Length, destinationName);
        if (source.Overlaps(destination[..source.Length], out int offset) && offset != 0) ThrowPartialOverlap(sourceName, destinationName);
    }

    private static void ThrowLengthMismatch(int xLength, int yLength, string xName, string yName) =>
        throw new ArgumentException($"'{xName}' has {xLength} elements but '{yName}' has {yLength}; they must have the same length.", yName);

    private static void ThrowDestinationTooShort(int needed, int length, string destinationName) =>
        throw new ArgumentException($"'{destinationName}' has {length} elements but the result needs {needed}.", destinationName);

    private static void ThrowPartialOverlap(string sourceName, string destinationName) =>
        throw new ArgumentException($"'{destinationName}' overlaps '{sourceName}' without starting at the same element; pass the same span to work in place.", destinationName);
}
