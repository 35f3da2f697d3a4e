using Spectre.Console;

namespace CompactAI.Cli;

/// <summary>
/// Progress bars on stderr (Spectre.Console) for long steps: model load, quantization, calibration. Only when stderr is a terminal
/// and the command is not in <c>--json</c> mode; otherwise the work runs without a reporter and nothing extra reaches stderr,
/// so scripts and tests see what they saw before.
/// </summary>
internal static class CliProgress
{
    /// <summary>Whether a bar is drawn: stderr is a terminal and the output is not machine-readable.</summary>
    public static bool Enabled(bool json) => !json && !Console.IsErrorRedirected;

    /// <summary>Runs <paramref name="work"/> with a bar labelled <paramref name="label"/> fed by its progress (0 to 1), or with none.</summary>
    public static async Task<T> RunAsync<T>(bool enabled, string label, Func<IProgress<float>?, Task<T>> work)
    {
        if (!enabled) return await work(null);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return await console.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(label), maxValue: 1);
                var result = await work(new Reporter(task));
                task.Value = 1;
                return result;
            });
    }

    /// <summary>Model load with a bar: <see cref="CompactModel.LoadAsync(string, CompactModelOptions?, IProgress{float}?, CancellationToken)"/>.</summary>
    public static Task<CompactModel> LoadAsync(string path, CompactModelOptions options, bool json, CancellationToken ct) =>
        RunAsync(Enabled(json), $"loading {Path.GetFileName(path)}", progress => CompactModel.LoadAsync(path, options, progress, ct));

    /// <summary>Sets the bar's value on the reporting thread (Spectre's tasks are thread-safe); no synchronisation context needed.</summary>
    private sealed class Reporter(ProgressTask task) : IProgress<float>
    {
        public void Report(float value) => task.Value = Math.Clamp(value, 0, 1);
    }
}
