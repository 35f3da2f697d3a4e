namespace CompactAI.Chat.Jinja;

/// <summary>The kinds of token the Jinja lexer produces.</summary>
internal enum JinjaTokenKind
{
    /// <summary>Literal template text between tags (already whitespace-controlled).</summary>
    Data,
    /// <summary><c>{{</c></summary>
    VariableBegin,
    /// <summary><c>}}</c></summary>
    VariableEnd,
    /// <summary><c>{%</c></summary>
    BlockBegin,
    /// <summary><c>%}</c></summary>
    BlockEnd,
    /// <summary>An identifier or keyword.</summary>
    Name,
    /// <summary>A string literal (value unescaped).</summary>
    String,
    /// <summary>An integer literal.</summary>
    Integer,
    /// <summary>A float literal.</summary>
    Float,
    /// <summary>An operator or punctuation: <c>+ - * / // % ** ~ == != &lt; &gt; &lt;= &gt;= = ( ) [ ] { } , . : |</c>.</summary>
    Operator,
    /// <summary>End of the template.</summary>
    End,
}

/// <summary>One token with its 1-based position in the template source.</summary>
internal readonly record struct JinjaToken(JinjaTokenKind Kind, string Value, int Line, int Column)
{
    public bool IsOperator(string op) => Kind == JinjaTokenKind.Operator && Value == op;

    public bool IsName(string name) => Kind == JinjaTokenKind.Name && Value == name;

    public override string ToString() => Kind switch
    {
        JinjaTokenKind.End => "end of template",
        JinjaTokenKind.Data => "template text",
        JinjaTokenKind.String => $"string '{Value}'",
        _ => $"'{Value}'",
    };
}
