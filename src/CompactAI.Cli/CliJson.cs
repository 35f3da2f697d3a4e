using System.Text.Json.Serialization;
using CompactAI.Cli.Commands;

namespace CompactAI.Cli;

/// <summary>Source-generated JSON contracts of the CLI's machine-readable output lines.</summary>
[JsonSourceGenerationOptions(WriteIndented = false)]
[JsonSerializable(typeof(GenerateJson))]
[JsonSerializable(typeof(BenchJson))]
[JsonSerializable(typeof(ConfidenceJson))]
internal sealed partial class CliJson : JsonSerializerContext;
