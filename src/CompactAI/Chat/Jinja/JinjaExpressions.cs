namespace CompactAI.Chat.Jinja;

/// <summary>An expression node of the template syntax tree, with its 1-based source position.</summary>
internal abstract record JinjaExpression(int Line, int Column);

/// <summary>A constant: string, integer (<see cref="long"/>), float (<see cref="double"/>), boolean or none.</summary>
internal sealed record LiteralExpression(object? Value, int Line, int Column) : JinjaExpression(Line, Column);

/// <summary>A variable reference.</summary>
internal sealed record NameExpression(string Name, int Line, int Column) : JinjaExpression(Line, Column);

/// <summary><c>[a, b]</c> or <c>(a, b)</c>.</summary>
internal sealed record ListExpression(IReadOnlyList<JinjaExpression> Items, bool IsTuple, int Line, int Column) : JinjaExpression(Line, Column);

/// <summary><c>{k: v, ...}</c></summary>
internal sealed record DictExpression(IReadOnlyList<(JinjaExpression Key, JinjaExpression Value)> Items, int Line, int Column) : JinjaExpression(Line, Column);

/// <summary><c>obj.name</c> (attribute first, then item, as Jinja's <c>getattr</c>).</summary>
internal sealed record AttributeExpression(JinjaExpression Target, string Name, int Line, int Column) : JinjaExpression(Line, Column);

/// <summary><c>obj[key]</c> (item first, then attribute, as Jinja's <c>getitem</c>).</summary>
internal sealed record ItemExpression(JinjaExpression Target, JinjaExpression Key, int Line, int Column) : JinjaExpression(Line, Column);

/// <summary><c>obj[start:stop:step]</c></summary>
internal sealed record SliceExpression(JinjaExpression Target, JinjaExpression? Start, JinjaExpression? Stop, JinjaExpression? Step, int Line, int Column)
    : JinjaExpression(Line, Column);

/// <summary>Positional and keyword arguments of a call, filter or test.</summary>
internal sealed record JinjaArguments(IReadOnlyList<JinjaExpression> Positional, IReadOnlyList<(string Name, JinjaExpression Value)> Keywords)
{
    public static readonly JinjaArguments None = new(Array.Empty<JinjaExpression>(), Array.Empty<(string, JinjaExpression)>());
}

/// <summary><c>callee(args)</c></summary>
internal sealed record CallExpression(JinjaExpression Callee, JinjaArguments Arguments, int Line, int Column) : JinjaExpression(Line, Column);

/// <summary><c>operand | name(args)</c></summary>
internal sealed record FilterExpression(JinjaExpression Operand, string Name, JinjaArguments Arguments, int Line, int Column) : JinjaExpression(Line, Column);

/// <summary><c>operand is [not] name(args)</c></summary>
internal sealed record TestExpression(JinjaExpression Operand, string Name, JinjaArguments Arguments, bool Negated, int Line, int Column)
    : JinjaExpression(Line, Column);

/// <summary><c>not x</c>, <c>-x</c>, <c>+x</c></summary>
internal sealed record UnaryExpression(string Operator, JinjaExpression Operand, int Line, int Column) : JinjaExpression(Line, Column);

/// <summary>Arithmetic, concatenation (<c>~</c>) and the short-circuit <c>and</c> / <c>or</c>.</summary>
internal sealed record BinaryExpression(string Operator, JinjaExpression Left, JinjaExpression Right, int Line, int Column) : JinjaExpression(Line, Column);

/// <summary>A comparison chain <c>a &lt; b == c</c>, including <c>in</c> and <c>not in</c>.</summary>
internal sealed record CompareExpression(JinjaExpression First, IReadOnlyList<(string Operator, JinjaExpression Operand)> Rest, int Line, int Column)
    : JinjaExpression(Line, Column);

/// <summary><c>then if condition else otherwise</c> (without <c>else</c> the result is undefined when false).</summary>
internal sealed record ConditionalExpression(JinjaExpression Condition, JinjaExpression Then, JinjaExpression? Otherwise, int Line, int Column)
    : JinjaExpression(Line, Column);
