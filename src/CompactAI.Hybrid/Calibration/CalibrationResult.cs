using System.Text.Json;
using System.Text.Json.Serialization;

namespace CompactAI.Hybrid.Calibration;

/// <summary>
/// A fitted calibration, tied to the model it was measured on by <see cref="ModelFingerprint"/>, with the chosen
/// threshold and the quality metrics of the fit. Round-trips through JSON (<see cref="ToJson"/> / <see cref="FromJson"/>).
/// </summary>
[System.Diagnostics.CodeAnalysis.Experimental(HybridDiagnosticIds.Calibration)]
public sealed record CalibrationResult
{
    private static readonly JsonSerializerOptions SerializerOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Identifies the model (and quantization, template) the calibration is valid for, e.g. a file hash.</summary>
    public required string ModelFingerprint { get; init; }

    /// <summary>The map's method.</summary>
    public required CalibrationMethod Method { get; init; }

    /// <summary>Platt slope, when <see cref="Method"/> is <see cref="CalibrationMethod.Platt"/>.</summary>
    public double? PlattA { get; init; }

    /// <summary>Platt intercept, when <see cref="Method"/> is <see cref="CalibrationMethod.Platt"/>.</summary>
    public double? PlattB { get; init; }

    /// <summary>Isotonic blocks, when <see cref="Method"/> is <see cref="CalibrationMethod.Isotonic"/>.</summary>
    public IReadOnlyList<IsotonicBlock>? IsotonicBlocks { get; init; }

    /// <summary>Threshold on the calibrated confidence; use as <see cref="HybridOptions.ConfidenceThreshold"/>.</summary>
    public required double Threshold { get; init; }

    /// <summary>Share of the calibration set that escalates at <see cref="Threshold"/>; use as <see cref="HybridOptions.CalibratedEscalationRate"/>.</summary>
    public required double EscalationRate { get; init; }

    /// <summary>Items in the calibration set.</summary>
    public required int SampleCount { get; init; }

    /// <summary>AUROC of the raw scores against local correctness.</summary>
    public required double Auroc { get; init; }

    /// <summary>Expected calibration error (10 bins) of the calibrated probabilities.</summary>
    public required double ExpectedCalibrationError { get; init; }

    /// <summary>Brier score of the calibrated probabilities.</summary>
    public required double BrierScore { get; init; }

    /// <summary>When the calibration was made.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>Rebuilds the fitted map.</summary>
    /// <returns>The map.</returns>
    public ICalibrationMap CreateMap() => Method switch
    {
        CalibrationMethod.Platt => new PlattScaling(
            PlattA ?? throw new InvalidOperationException("A Platt calibration needs PlattA."),
            PlattB ?? throw new InvalidOperationException("A Platt calibration needs PlattB.")),
        CalibrationMethod.Isotonic => new IsotonicCalibration(
            IsotonicBlocks ?? throw new InvalidOperationException("An isotonic calibration needs IsotonicBlocks.")),
        _ => throw new InvalidOperationException($"Unknown calibration method {Method}."),
    };

    /// <summary>A scorer that applies this calibration on top of <paramref name="rawScorer"/>.</summary>
    /// <param name="rawScorer">The scorer the calibration was fitted on.</param>
    /// <returns>The calibrated scorer.</returns>
    public CalibratedConfidenceScorer CreateScorer(IConfidenceScorer rawScorer) => new(rawScorer, CreateMap());

    /// <summary>Serializes to indented JSON (camelCase names, enums as strings).</summary>
    /// <returns>The JSON text.</returns>
    public string ToJson() => JsonSerializer.Serialize(this, SerializerOptions);

    /// <summary>Reads a result written by <see cref="ToJson"/>.</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The result.</returns>
    public static CalibrationResult FromJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        return JsonSerializer.Deserialize<CalibrationResult>(json, SerializerOptions)
            ?? throw new JsonException("The JSON holds no calibration result.");
    }
}
