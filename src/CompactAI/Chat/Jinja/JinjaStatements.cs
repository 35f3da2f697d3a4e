namespace CompactAI.Chat.Jinja;

/// <summary>A statement node of the template syntax tree, with its 1-based source position.</summary>
internal abstract record JinjaStatement(int Line, int Column);

/// <summary>Literal template text.</summary>
internal sealed record TextStatement(string Text, int Line, int Column) : JinjaStatement(Line, Column);

/// <summary><c>{{ expression }}</c></summary>
internal sealed record OutputStatement(JinjaExpression Expression, int Line, int Column) : JinjaStatement(Line, Column);

/// <summary><c>{% if %}...{% elif %}...{% else %}...{% endif %}</c></summary>
internal sealed record IfStatement(IReadOnlyList<(JinjaExpression Condition, IReadOnlyList<JinjaStatement> Body)> Branches, IReadOnlyList<JinjaStatement> Else,
    int Line, int Column) : JinjaStatement(Line, Column);

/// <summary><c>{% for a, b in items if condition %}...{% else %}...{% endfor %}</c></summary>
internal sealed record ForStatement(IReadOnlyList<string> Targets, bool UnpackTargets, JinjaExpression Iterable, JinjaExpression? Filter,
    IReadOnlyList<JinjaStatement> Body, IReadOnlyList<JinjaStatement> Else, int Line, int Column) : JinjaStatement(Line, Column);

/// <summary><c>{% set a = x %}</c>, <c>{% set a, b = x %}</c> or <c>{% set ns.attr = x %}</c>.</summary>
internal sealed record SetStatement(IReadOnlyList<string> Targets, bool UnpackTargets, string? NamespaceAttribute, JinjaExpression Value, int Line, int Column)
    : JinjaStatement(Line, Column);

/// <summary><c>{% set name %}...{% endset %}</c></summary>
internal sealed record SetBlockStatement(string Target, IReadOnlyList<JinjaStatement> Body, int Line, int Column) : JinjaStatement(Line, Column);

/// <summary>A macro parameter and its default value, if any.</summary>
internal sealed record MacroParameter(string Name, JinjaExpression? Default);

/// <summary><c>{% macro name(a, b=1) %}...{% endmacro %}</c></summary>
internal sealed record MacroStatement(string Name, IReadOnlyList<MacroParameter> Parameters, IReadOnlyList<JinjaStatement> Body, int Line, int Column)
    : JinjaStatement(Line, Column);

/// <summary><c>{% filter name(args) %}...{% endfilter %}</c></summary>
internal sealed record FilterBlockStatement(string Filter, JinjaArguments Arguments, IReadOnlyList<JinjaStatement> Body, int Line, int Column)
    : JinjaStatement(Line, Column);

/// <summary><c>{% break %}</c> or <c>{% continue %}</c> (Jinja's loopcontrols extension, which transformers enables).</summary>
internal sealed record LoopControlStatement(bool IsBreak, int Line, int Column) : JinjaStatement(Line, Column);

/// <summary>A block whose body is rendered as is: transformers' <c>{% generation %}</c> marker.</summary>
internal sealed record PassThroughStatement(IReadOnlyList<JinjaStatement> Body, int Line, int Column) : JinjaStatement(Line, Column);
