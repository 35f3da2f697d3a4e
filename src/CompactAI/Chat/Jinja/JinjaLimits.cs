namespace CompactAI.Chat.Jinja;

/// <summary>
/// The resource budget of one render: output and string size, call depth, and evaluation steps
/// (every statement, expression and loop iteration costs one), so that no template can hang or allocate without bound.
/// </summary>
internal sealed class JinjaLimits
{
    private long _steps;

    public JinjaLimits(int maxOutputLength, int maxDepth, long maxSteps)
    {
        MaxOutputLength = maxOutputLength;
        MaxDepth = maxDepth;
        MaxSteps = maxSteps;
    }

    public int MaxOutputLength { get; }
    public int MaxDepth { get; }
    public long MaxSteps { get; }

    public void Step()
    {
        if (++_steps > MaxSteps) throw new JinjaRuntimeError($"rendering took more than the limit of {MaxSteps} evaluation steps");
    }

    public void CheckLength(long length)
    {
        if (length > MaxOutputLength) throw new JinjaRuntimeError($"a string of {length} characters exceeds the limit of {MaxOutputLength}");
    }

    public string CheckString(string s)
    {
        CheckLength(s.Length);
        return s;
    }

    public void CheckCount(long count, string what)
    {
        if (count > MaxOutputLength) throw new JinjaRuntimeError($"{what} of {count} items exceeds the limit of {MaxOutputLength}");
    }
}
