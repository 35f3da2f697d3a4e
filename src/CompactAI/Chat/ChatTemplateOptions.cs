namespace CompactAI.Chat;

/// <summary>Options for rendering chat templates. Null properties mean "use the default".</summary>
public sealed class ChatTemplateOptions
{
    /// <summary>
    /// The instant <see cref="DefaultClock"/> reports: 26 July 2024, the date Llama 3.x templates use when they cannot read a clock,
    /// so that by default a rendered prompt never changes from one day to the next (and prompt caches keep hitting).
    /// </summary>
    public static readonly DateTimeOffset DefaultNow = new(2024, 7, 26, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A clock fixed at <see cref="DefaultNow"/> (UTC).</summary>
    public static TimeProvider DefaultClock { get; } = new FixedClock(DefaultNow);

    /// <summary>The clock behind <c>strftime_now(...)</c>; <see cref="DefaultClock"/> when null. Pass <see cref="TimeProvider.System"/> for today's date.</summary>
    public TimeProvider? Clock { get; init; }

    /// <summary>The longest prompt (and the longest intermediate string) a render may produce, in characters; 4 Mi when null.</summary>
    public int? MaxOutputLength { get; init; }

    /// <summary>The deepest syntax nesting and macro recursion allowed; 128 when null.</summary>
    public int? MaxRecursionDepth { get; init; }

    /// <summary>The most evaluation steps (statements, expressions, loop iterations) one render may take; 10 million when null.</summary>
    public long? MaxSteps { get; init; }

    internal TimeProvider ClockOrDefault => Clock ?? DefaultClock;
    internal int MaxOutputLengthOrDefault => MaxOutputLength ?? 4 << 20;
    internal int MaxRecursionDepthOrDefault => MaxRecursionDepth ?? 128;
    internal long MaxStepsOrDefault => MaxSteps ?? 10_000_000;

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;

        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
    }
}
