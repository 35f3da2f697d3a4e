namespace CompactAI.Chat.Jinja;

/// <summary>
/// A parsed Jinja template with the globals transformers provides to chat templates:
/// <c>raise_exception(message)</c>, <c>strftime_now(format)</c>, <c>range</c>, <c>namespace</c> and <c>dict</c>.
/// </summary>
internal sealed class JinjaTemplate
{
    private readonly IReadOnlyList<JinjaStatement> _body;

    private JinjaTemplate(IReadOnlyList<JinjaStatement> body) => _body = body;

    /// <summary>Parses <paramref name="source"/> (trim_blocks and lstrip_blocks on, as in transformers); throws <see cref="ChatTemplateException"/> with the position of a syntax error.</summary>
    public static JinjaTemplate Parse(string source, int maxDepth) => new(JinjaParser.Parse(source, maxDepth));

    /// <summary>Converts application values (strings, numbers, lists, dictionaries, JSON) to runtime values; throws <see cref="ArgumentException"/> for others.</summary>
    public static Dictionary<string, object?> ConvertVariables(IReadOnlyDictionary<string, object?> variables)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in variables) result[name] = JinjaOperations.FromClr(value);
        return result;
    }

    /// <summary>Renders with variables made by <see cref="ConvertVariables"/>.</summary>
    public string Render(Dictionary<string, object?> variables, TimeProvider clock, int maxOutputLength, int maxDepth, long maxSteps)
    {
        var limits = new JinjaLimits(maxOutputLength, maxDepth, maxSteps);
        var globals = new JinjaScope();
        AddGlobals(globals, clock, limits);
        var scope = new JinjaScope(globals);
        foreach (var (name, value) in variables) scope.Set(name, value);
        return new JinjaEvaluator(limits).Render(_body, scope);
    }

    private static void AddGlobals(JinjaScope globals, TimeProvider clock, JinjaLimits limits)
    {
        globals.Set("raise_exception", new JinjaCallable("raise_exception", a =>
            throw new JinjaRuntimeError(JinjaOperations.ToStr(a.Get(0, "message", "")), raisedByTemplate: true)));
        globals.Set("strftime_now", new JinjaCallable("strftime_now", a =>
        {
            a.Check(1);
            return JinjaStrftime.Format(clock.GetLocalNow(), JinjaMethods.RequireString(a.Get(0, "format", null), "strftime_now"));
        }));
        globals.Set("range", new JinjaCallable("range", a =>
        {
            a.Check(3);
            if (a.Positional.Count == 0) throw new JinjaRuntimeError("range expected at least 1 argument, got 0");
            long start = 0, stop, step = 1;
            if (a.Positional.Count == 1) stop = JinjaOperations.ToLong(a.Positional[0]);
            else
            {
                start = JinjaOperations.ToLong(a.Positional[0]);
                stop = JinjaOperations.ToLong(a.Positional[1]);
                if (a.Positional.Count == 3) step = JinjaOperations.ToLong(a.Positional[2]);
            }
            if (step == 0) throw new JinjaRuntimeError("range() arg 3 must not be zero");
            long count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0) : (start > stop ? (start - stop - step - 1) / -step : 0);
            limits.CheckCount(count, "range()");
            var result = new List<object?>((int)count);
            for (long i = 0, v = start; i < count; i++, v += step) result.Add(v);
            return result;
        }));
        globals.Set("namespace", new JinjaCallable("namespace", a =>
        {
            var ns = new JinjaNamespace();
            foreach (var p in a.Positional)
            {
                if (p is not OrderedDictionary<string, object?> d) throw new JinjaRuntimeError("namespace() positional argument must be a mapping");
                foreach (var (k, v) in d) ns.Attributes[k] = v;
            }
            foreach (var (k, v) in a.Keywords) ns.Attributes[k] = v;
            return ns;
        }));
        globals.Set("dict", new JinjaCallable("dict", a =>
        {
            var d = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
            foreach (var p in a.Positional)
            {
                if (p is not OrderedDictionary<string, object?> src) throw new JinjaRuntimeError("dict() positional argument must be a mapping");
                foreach (var (k, v) in src) d[k] = v;
            }
            foreach (var (k, v) in a.Keywords) d[k] = v;
            return d;
        }));
    }
}
