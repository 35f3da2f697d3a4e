// Retrieve with one specialized model, answer with another: all-MiniLM-L6-v2 (a sentence-embedding model) picks the story
// opening closest to the request, then one loaded base model (stories260K) continues it twice, once as it is and once with
// a domain LoRA adapter applied at run time (stories260K-spark-dragon: stories about a dragon named Spark). The base is
// loaded once; the adapter is chosen per request (GenerationOptions.Adapters), so one process serves both.
//   dotnet run --project samples/CompactAI.Samples.SearchAndAnswer -- [--query TEXT] [--scale S]
//       [--embedding-model PATH] [--model PATH] [--adapter PATH]
// Defaults: ../shared/models/all-MiniLM-L6-v2-Q8_0.gguf, stories260K.gguf, stories260K-spark-dragon-lora-r64-f32.gguf.
// See docs/specialized-models.md.
using System.Globalization;
using System.Numerics.Tensors;
using CompactAI;
using CompactAI.Chat;
using CompactAI.Inference;
using CompactAI.Sampling;
using CompactAI.Samples;
using Microsoft.Extensions.AI;

string query = SampleModel.Option(args, "--query") ?? "a story about a brave animal in the forest";
float scale = SampleModel.Option(args, "--scale") is { } s ? float.Parse(s, CultureInfo.InvariantCulture) : 1f;
string[] openings =
[
    "Once upon a time, in a big forest,",
    "One day, a little girl went to the park with her mom.",
    "Tom had a red ball. He liked to throw it",
    "The sun was hot, so the children went to the beach.",
];

// 1. Retrieve: one batched encoder pass over the openings, cosine similarity to the query.
using var encoder = await CompactModel.LoadAsync(SampleModel.Resolve(args, "all-MiniLM-L6-v2-Q8_0.gguf", "--embedding-model"));
using IEmbeddingGenerator<string, Embedding<float>> embedder = new CompactEmbeddingGenerator(encoder);
var index = await embedder.GenerateAsync(openings);
ReadOnlyMemory<float> q = await embedder.GenerateVectorAsync(query);
var (best, score) = openings
    .Select((text, i) => (Text: text, Score: TensorPrimitives.CosineSimilarity(q.Span, index[i].Vector.Span)))
    .MaxBy(d => d.Score);
Console.WriteLine($"query:     {query}");
Console.WriteLine($"retrieved: {best}  (cosine {score:F4}, {encoder.Config.Name})");

// 2. Answer: one base model, with and without the adapter, greedy so the difference is the adapter's alone.
using var model = await CompactModel.LoadAsync(SampleModel.Resolve(args));
LoraAdapter adapter = model.LoadAdapter(SampleModel.Resolve(args, "stories260K-spark-dragon-lora-r64-f32.gguf", "--adapter"));
using var session = model.CreateSession();
var plain = new GenerationOptions { MaxTokens = 48, Sampling = SamplingOptions.Greedy };
var adapted = new GenerationOptions { MaxTokens = 48, Sampling = SamplingOptions.Greedy, Adapters = [new ScaledLoraAdapter(adapter, scale)] };

Console.WriteLine();
Console.WriteLine("base model:");
Console.WriteLine("  " + best + (await session.GenerateTextAsync(best, plain)).Text);
Console.WriteLine($"base model + adapter {Path.GetFileName(adapter.FilePath ?? "adapter")} (scale {scale.ToString(CultureInfo.InvariantCulture)}):");
Console.WriteLine("  " + best + (await session.GenerateTextAsync(best, adapted)).Text);
