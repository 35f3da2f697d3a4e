namespace CompactAI.Chat.Jinja;

/// <summary>Jinja's built-in tests (<c>x is defined</c>, <c>x is string</c>, <c>n is divisibleby 3</c>, ...), with Python's type rules.</summary>
internal static class JinjaTestFunctions
{
    public static bool Exists(string name) => name is "defined" or "undefined" or "none" or "boolean" or "false" or "true" or "integer" or "float"
        or "number" or "string" or "mapping" or "iterable" or "sequence" or "callable" or "odd" or "even" or "divisibleby" or "eq" or "equalto"
        or "==" or "ne" or "!=" or "lt" or "lessthan" or "<" or "le" or "<=" or "gt" or "greaterthan" or ">" or "ge" or ">=" or "in"
        or "lower" or "upper" or "sameas" or "escaped" or "filter" or "test";

    public static bool Apply(string name, object? v, List<object?> args)
    {
        object? Arg()
        {
            if (args.Count < 1) throw new JinjaRuntimeError($"test '{name}' needs an argument");
            return args[0];
        }
        return name switch
        {
            "defined" => v is not JinjaUndefined,
            "undefined" => v is JinjaUndefined,
            "none" => v is null,
            "boolean" => v is bool,
            "false" => v is false,
            "true" => v is true,
            "integer" => v is long,
            "float" => v is double,
            "number" => v is long or double or bool,
            "string" => v is string,
            "mapping" => v is OrderedDictionary<string, object?>,
            "iterable" => v is string or List<object?> or OrderedDictionary<string, object?> or JinjaUndefined,
            "sequence" => v is string or List<object?> or OrderedDictionary<string, object?>,
            "callable" => v is JinjaCallable,
            "odd" => Integer(v, name) % 2 != 0,
            "even" => Integer(v, name) % 2 == 0,
            "divisibleby" => Integer(Arg(), name) is var n && n != 0 ? Integer(v, name) % n == 0 : throw new JinjaRuntimeError("divisibleby(0)"),
            "eq" or "equalto" or "==" => JinjaOperations.PyEquals(v, Arg()),
            "ne" or "!=" => !JinjaOperations.PyEquals(v, Arg()),
            "lt" or "lessthan" or "<" => JinjaOperations.Compare(v, Arg(), "<") < 0,
            "le" or "<=" => JinjaOperations.Compare(v, Arg(), "<=") <= 0,
            "gt" or "greaterthan" or ">" => JinjaOperations.Compare(v, Arg(), ">") > 0,
            "ge" or ">=" => JinjaOperations.Compare(v, Arg(), ">=") >= 0,
            "in" => JinjaOperations.Contains(Arg(), v),
            "lower" => JinjaOperations.ToStr(v) is var s && s == s.ToLowerInvariant(),
            "upper" => JinjaOperations.ToStr(v) is var u && u == u.ToUpperInvariant(),
            "sameas" => SameAs(v, Arg()),
            "escaped" => false,
            "filter" => Arg() is string f && JinjaFilters.Exists(f),
            "test" => Arg() is string t && Exists(t),
            _ => throw new JinjaRuntimeError($"no test named '{name}'"),
        };
    }

    private static long Integer(object? v, string test) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d when d == Math.Floor(d) => (long)d,
        _ => throw new JinjaRuntimeError($"test '{test}' needs an integer, got '{JinjaOperations.TypeName(v)}'"),
    };

    private static bool SameAs(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (bool x, bool y) => x == y,
        (long x, long y) => x == y,
        _ => ReferenceEquals(a, b),
    };
}
