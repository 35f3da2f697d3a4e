using System.CommandLine;
using System.Text;

namespace CompactAI.Cli.Commands;

/// <summary>
/// <c>compactai tokenize</c>: with <c>--cases FILE</c> (llama.cpp's <c>.inp</c> format: cases separated by lines
/// <c>__ggml_vocab_test__</c>) prints the <c>.out</c> format, one line per case of <c> id id id</c> without BOS,
/// tokenized as llama.cpp's test does (no special tokens added or parsed). With <c>--text</c> prints one line of ids.
/// </summary>
internal static class TokenizeCommand
{
    public const string Separator = "\n__ggml_vocab_test__\n";

    private static readonly Option<string?> Cases = CliOption.Text("--cases", "llama.cpp's .inp file of cases.", "FILE");
    private static readonly Option<string?> Text = CliOption.Text("--text", "One text to tokenize.", "TEXT");
    private static readonly Option<bool> Bos = CliOption.Flag("--bos", "Add the special tokens (BOS) the model adds.");

    public static Command Create()
    {
        // The model option of the model commands: tokenize reads only the file's tokenizer, so the load options are not added.
        var command = new Command("tokenize", "Token ids of a text, or llama.cpp's .out format for an .inp file of cases.") { ModelOptions.Model, Cases, Text, Bos };
        command.SetAction(Run);
        return command;
    }

    private static int Run(ParseResult p)
    {
        string modelPath = ModelOptions.PathOf(p);
        string? casesPath = p.GetValue(Cases);
        string? text = p.GetValue(Text);
        bool bos = p.GetValue(Bos);
        if ((casesPath is null) == (text is null)) throw new UsageException("give exactly one of --cases FILE or --text TEXT");

        using var file = Gguf.GgufFile.Open(modelPath);
        var tokenizer = Tokenization.ModelTokenizer.FromGguf(file);
        var cases = text is not null ? [text] : ReadCases(casesPath!);
        var sb = new StringBuilder();
        foreach (var c in cases)
        {
            foreach (int id in tokenizer.Encode(c, addSpecial: bos, parseSpecial: false)) sb.Append(' ').Append(id);
            sb.Append('\n');
        }
        Console.Out.Write(sb.ToString());
        return 0;
    }

    /// <summary>Splits an <c>.inp</c> file into its cases.</summary>
    public static List<string> ReadCases(string path)
    {
        string content = File.ReadAllText(path, Encoding.UTF8);
        var parts = content.Split(Separator);
        var cases = new List<string>(parts);
        // The file ends with a separator, leaving one empty piece after the last case.
        if (cases.Count > 0 && cases[^1].Length == 0) cases.RemoveAt(cases.Count - 1);
        return cases;
    }
}
