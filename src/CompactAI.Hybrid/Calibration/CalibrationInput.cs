namespace CompactAI.Hybrid.Calibration;

/// <summary>Argument checks shared by the calibration algorithms.</summary>
internal static class CalibrationInput
{
    public static void CheckPaired<T1, T2>(IReadOnlyList<T1> first, IReadOnlyList<T2> second, string firstName, string secondName)
    {
        ArgumentNullException.ThrowIfNull(first, firstName);
        ArgumentNullException.ThrowIfNull(second, secondName);
        if (first.Count != second.Count)
        {
            throw new ArgumentException($"{firstName} has {first.Count} items but {secondName} has {second.Count}.", secondName);
        }
    }

    public static void CheckFinite(IReadOnlyList<double> values, string name)
    {
        for (int i = 0; i < values.Count; i++)
        {
            if (!double.IsFinite(values[i]))
            {
                throw new ArgumentException($"{name}[{i}] is {values[i]}; scores must be finite.", name);
            }
        }
    }
}
