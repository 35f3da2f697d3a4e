// Semantic search: embed a few documents with IEmbeddingGenerator and rank them by cosine similarity to a query.
//   dotnet run --project samples/CompactAI.Samples.SemanticSearch -- [--model PATH] [--query TEXT]
// The default 260K TinyStories model is far too small for good embeddings; the code is the same for a real embedding model.
using System.Numerics.Tensors;
using CompactAI;
using CompactAI.Chat;
using CompactAI.Samples;
using Microsoft.Extensions.AI;

string query = SampleModel.Option(args, "--query") ?? "a girl playing in the park";
string[] documents =
[
    "Lily went to the park to play on the swings with her friends.",
    "The big dog barked at the mailman every morning.",
    "Tom baked a chocolate cake for his mother's birthday.",
    "The little boat sailed across the blue sea in the storm.",
    "Sue found a shiny red ball under the tree in the garden.",
];

using var model = await CompactModel.LoadAsync(SampleModel.Resolve(args));
using IEmbeddingGenerator<string, Embedding<float>> embedder = new CompactEmbeddingGenerator(model);

GeneratedEmbeddings<Embedding<float>> index = await embedder.GenerateAsync(documents);
ReadOnlyMemory<float> q = await embedder.GenerateVectorAsync(query);

Console.WriteLine($"query: {query}");
var ranked = documents
    .Select((text, i) => (Text: text, Score: TensorPrimitives.CosineSimilarity(q.Span, index[i].Vector.Span)))
    .OrderByDescending(d => d.Score);
foreach (var (text, score) in ranked) Console.WriteLine($"{score,7:F4}  {text}");
