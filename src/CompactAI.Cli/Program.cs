namespace CompactAI.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        Console.Error.WriteLine("usage: compactai <generate|tokenize|inspect|bench> ...");
        return args.Length == 0 ? 2 : 2;
    }
}
