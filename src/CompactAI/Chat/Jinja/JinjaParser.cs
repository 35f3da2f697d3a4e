using System.Globalization;

namespace CompactAI.Chat.Jinja;

/// <summary>
/// Builds the syntax tree from the lexer's tokens with Jinja's grammar and operator precedence
/// (lowest first): conditional <c>x if c else y</c>, <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>,
/// <c>+ -</c>, <c>~</c>, <c>* / // %</c>, <c>**</c>, unary <c>- +</c>, then postfix access, calls, filters and tests.
/// Nesting deeper than the configured limit is rejected so that a hostile template cannot exhaust the stack.
/// </summary>
internal sealed class JinjaParser
{
    private static readonly HashSet<string> CompareOperators = new() { "==", "!=", "<", ">", "<=", ">=" };
    private readonly List<JinjaToken> _tokens;
    private readonly int _maxDepth;
    private int _index;
    private int _depth;

    private JinjaParser(List<JinjaToken> tokens, int maxDepth)
    {
        _tokens = tokens;
        _maxDepth = maxDepth;
    }

    /// <summary>Parses a whole template.</summary>
    public static IReadOnlyList<JinjaStatement> Parse(string source, int maxDepth)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source), maxDepth);
        return parser.ParseBody(Array.Empty<string>(), out _);
    }

    private JinjaToken Current => _tokens[_index];

    private JinjaToken Peek(int offset = 1) => _tokens[Math.Min(_index + offset, _tokens.Count - 1)];

    private JinjaToken Advance() => _tokens[_index++];

    private static ChatTemplateException Error(string message, JinjaToken at) => new(message, at.Line, at.Column);

    private JinjaToken ExpectOperator(string op)
    {
        if (!Current.IsOperator(op)) throw Error($"expected '{op}' but found {Current}", Current);
        return Advance();
    }

    private string ExpectName()
    {
        if (Current.Kind != JinjaTokenKind.Name) throw Error($"expected a name but found {Current}", Current);
        return Advance().Value;
    }

    private void ExpectBlockEnd()
    {
        if (Current.Kind != JinjaTokenKind.BlockEnd) throw Error($"expected '%}}' but found {Current}", Current);
        Advance();
    }

    private void Enter()
    {
        if (++_depth > _maxDepth) throw Error($"template nesting is deeper than the limit of {_maxDepth}", Current);
    }

    // ---- statements ------------------------------------------------------------------------------------------

    /// <summary>Parses statements until a block tag named in <paramref name="endTags"/> (left unconsumed after its name).</summary>
    private List<JinjaStatement> ParseBody(IReadOnlyCollection<string> endTags, out string? endTag)
    {
        Enter();
        var body = new List<JinjaStatement>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case JinjaTokenKind.End:
                    if (endTags.Count > 0) throw Error($"unexpected end of template: expected {string.Join(" or ", endTags.Select(t => $"'{{% {t} %}}'"))}", token);
                    endTag = null;
                    _depth--;
                    return body;
                case JinjaTokenKind.Data:
                    Advance();
                    body.Add(new TextStatement(token.Value, token.Line, token.Column));
                    break;
                case JinjaTokenKind.VariableBegin:
                    Advance();
                    var expr = ParseExpression();
                    if (Current.Kind != JinjaTokenKind.VariableEnd) throw Error($"expected '}}}}' but found {Current}", Current);
                    Advance();
                    body.Add(new OutputStatement(expr, token.Line, token.Column));
                    break;
                case JinjaTokenKind.BlockBegin:
                {
                    var nameToken = Peek();
                    if (nameToken.Kind != JinjaTokenKind.Name) throw Error($"expected a statement name but found {nameToken}", nameToken);
                    if (endTags.Contains(nameToken.Value))
                    {
                        _index += 2;
                        endTag = nameToken.Value;
                        _depth--;
                        return body;
                    }
                    if (nameToken.Value is "elif" or "else" or "endif" or "endfor" or "endset" or "endmacro" or "endfilter" or "endgeneration" or "endraw")
                    {
                        string expected = endTags.Count == 0 ? "no closing tag here" : "expected " + string.Join(" or ", endTags.Select(t => $"'{t}'"));
                        throw Error($"unexpected '{{% {nameToken.Value} %}}': {expected}", nameToken);
                    }
                    Advance();
                    body.Add(ParseStatement(token));
                    break;
                }
                default:
                    throw Error($"unexpected {token}", token);
            }
        }
    }

    private JinjaStatement ParseStatement(JinjaToken begin)
    {
        var name = Advance();
        switch (name.Value)
        {
            case "if": return ParseIf(begin);
            case "for": return ParseFor(begin);
            case "set": return ParseSet(begin);
            case "macro": return ParseMacro(begin);
            case "filter": return ParseFilterBlock(begin);
            case "break":
            case "continue":
                ExpectBlockEnd();
                return new LoopControlStatement(name.Value == "break", begin.Line, begin.Column);
            case "generation":
            {
                ExpectBlockEnd();
                var body = ParseBody(new[] { "endgeneration" }, out _);
                ExpectBlockEnd();
                return new PassThroughStatement(body, begin.Line, begin.Column);
            }
            default:
                throw Error($"unknown statement '{name.Value}'", name);
        }
    }

    private JinjaStatement ParseIf(JinjaToken begin)
    {
        var branches = new List<(JinjaExpression, IReadOnlyList<JinjaStatement>)>();
        IReadOnlyList<JinjaStatement> elseBody = Array.Empty<JinjaStatement>();
        var condition = ParseExpression();
        ExpectBlockEnd();
        while (true)
        {
            var body = ParseBody(new[] { "elif", "else", "endif" }, out var end);
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = ParseExpression();
                ExpectBlockEnd();
                continue;
            }
            ExpectBlockEnd();
            if (end == "else")
            {
                elseBody = ParseBody(new[] { "endif" }, out _);
                ExpectBlockEnd();
            }
            return new IfStatement(branches, elseBody, begin.Line, begin.Column);
        }
    }

    private (List<string> Names, bool Unpack) ParseTargets()
    {
        var names = new List<string>();
        bool parenthesised = Current.IsOperator("(");
        if (parenthesised) Advance();
        names.Add(ExpectName());
        bool unpack = false;
        while (Current.IsOperator(","))
        {
            unpack = true;
            Advance();
            if (Current.Kind != JinjaTokenKind.Name) break;
            names.Add(ExpectName());
        }
        if (parenthesised)
        {
            ExpectOperator(")");
            unpack = true;
        }
        return (names, unpack);
    }

    private JinjaStatement ParseFor(JinjaToken begin)
    {
        var (targets, unpack) = ParseTargets();
        if (!Current.IsName("in")) throw Error($"expected 'in' but found {Current}", Current);
        Advance();
        var iterable = ParseExpression(allowConditional: false);
        JinjaExpression? filter = null;
        if (Current.IsName("if"))
        {
            Advance();
            filter = ParseExpression(allowConditional: false);
        }
        if (Current.IsName("recursive")) throw Error("recursive loops are not supported", Current);
        ExpectBlockEnd();
        var body = ParseBody(new[] { "else", "endfor" }, out var end);
        IReadOnlyList<JinjaStatement> elseBody = Array.Empty<JinjaStatement>();
        ExpectBlockEnd();
        if (end == "else")
        {
            elseBody = ParseBody(new[] { "endfor" }, out _);
            ExpectBlockEnd();
        }
        return new ForStatement(targets, unpack, iterable, filter, body, elseBody, begin.Line, begin.Column);
    }

    private JinjaStatement ParseSet(JinjaToken begin)
    {
        if (Current.Kind == JinjaTokenKind.Name && Peek().IsOperator("."))
        {
            string ns = Advance().Value;
            Advance();
            string attribute = ExpectName();
            ExpectOperator("=");
            var value = ParseTupleOrExpression();
            ExpectBlockEnd();
            return new SetStatement(new[] { ns }, false, attribute, value, begin.Line, begin.Column);
        }
        var (targets, unpack) = ParseTargets();
        if (Current.Kind == JinjaTokenKind.BlockEnd && !unpack)
        {
            Advance();
            var body = ParseBody(new[] { "endset" }, out _);
            ExpectBlockEnd();
            return new SetBlockStatement(targets[0], body, begin.Line, begin.Column);
        }
        ExpectOperator("=");
        var expr = ParseTupleOrExpression();
        ExpectBlockEnd();
        return new SetStatement(targets, unpack, null, expr, begin.Line, begin.Column);
    }

    private JinjaStatement ParseMacro(JinjaToken begin)
    {
        string name = ExpectName();
        ExpectOperator("(");
        var parameters = new List<MacroParameter>();
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0) ExpectOperator(",");
            if (Current.IsOperator(")")) break;
            string p = ExpectName();
            JinjaExpression? def = null;
            if (Current.IsOperator("="))
            {
                Advance();
                def = ParseExpression();
            }
            else if (parameters.Count > 0 && parameters[^1].Default is not null)
            {
                throw Error($"macro parameter '{p}' without a default follows one with a default", Current);
            }
            parameters.Add(new MacroParameter(p, def));
        }
        Advance();
        ExpectBlockEnd();
        var body = ParseBody(new[] { "endmacro" }, out _);
        if (Current.Kind == JinjaTokenKind.Name && Current.Value == name) Advance();
        ExpectBlockEnd();
        return new MacroStatement(name, parameters, body, begin.Line, begin.Column);
    }

    private JinjaStatement ParseFilterBlock(JinjaToken begin)
    {
        string name = ExpectName();
        var args = Current.IsOperator("(") ? ParseArguments() : JinjaArguments.None;
        ExpectBlockEnd();
        var body = ParseBody(new[] { "endfilter" }, out _);
        ExpectBlockEnd();
        return new FilterBlockStatement(name, args, body, begin.Line, begin.Column);
    }

    // ---- expressions -----------------------------------------------------------------------------------------

    /// <summary>An expression, or an unparenthesised tuple <c>a, b</c> (as allowed on the right of <c>set</c>).</summary>
    private JinjaExpression ParseTupleOrExpression()
    {
        var first = ParseExpression();
        if (!Current.IsOperator(",")) return first;
        var items = new List<JinjaExpression> { first };
        while (Current.IsOperator(","))
        {
            Advance();
            if (Current.Kind == JinjaTokenKind.BlockEnd) break;
            items.Add(ParseExpression());
        }
        return new ListExpression(items, true, first.Line, first.Column);
    }

    private JinjaExpression ParseExpression(bool allowConditional = true)
    {
        Enter();
        var token = Current;
        var expr = ParseOr();
        while (allowConditional && Current.IsName("if"))
        {
            Advance();
            var condition = ParseOr();
            JinjaExpression? otherwise = null;
            if (Current.IsName("else"))
            {
                Advance();
                otherwise = ParseExpression();
            }
            expr = new ConditionalExpression(condition, expr, otherwise, token.Line, token.Column);
        }
        _depth--;
        return expr;
    }

    private JinjaExpression ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var op = Advance();
            left = new BinaryExpression("or", left, ParseAnd(), op.Line, op.Column);
        }
        return left;
    }

    private JinjaExpression ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var op = Advance();
            left = new BinaryExpression("and", left, ParseNot(), op.Line, op.Column);
        }
        return left;
    }

    private JinjaExpression ParseNot()
    {
        if (Current.IsName("not"))
        {
            var op = Advance();
            Enter();
            var operand = ParseNot();
            _depth--;
            return new UnaryExpression("not", operand, op.Line, op.Column);
        }
        return ParseCompare();
    }

    private JinjaExpression ParseCompare()
    {
        var first = ParseMath1();
        List<(string, JinjaExpression)>? rest = null;
        while (true)
        {
            string op;
            if (Current.Kind == JinjaTokenKind.Operator && CompareOperators.Contains(Current.Value)) op = Advance().Value;
            else if (Current.IsName("in")) { Advance(); op = "in"; }
            else if (Current.IsName("not") && Peek().IsName("in")) { _index += 2; op = "not in"; }
            else break;
            (rest ??= new()).Add((op, ParseMath1()));
        }
        return rest is null ? first : new CompareExpression(first, rest, first.Line, first.Column);
    }

    private JinjaExpression ParseMath1()
    {
        var left = ParseConcat();
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            var op = Advance();
            left = new BinaryExpression(op.Value, left, ParseConcat(), op.Line, op.Column);
        }
        return left;
    }

    private JinjaExpression ParseConcat()
    {
        var left = ParseMath2();
        while (Current.IsOperator("~"))
        {
            var op = Advance();
            left = new BinaryExpression("~", left, ParseMath2(), op.Line, op.Column);
        }
        return left;
    }

    private JinjaExpression ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == JinjaTokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var op = Advance();
            left = new BinaryExpression(op.Value, left, ParsePow(), op.Line, op.Column);
        }
        return left;
    }

    private JinjaExpression ParsePow()
    {
        var left = ParseUnary();
        while (Current.IsOperator("**"))
        {
            var op = Advance();
            left = new BinaryExpression("**", left, ParseUnary(), op.Line, op.Column);
        }
        return left;
    }

    /// <summary>Unary sign, then postfix; filters and tests apply to the signed value (<c>-3|abs</c> is 3), as in Jinja.</summary>
    private JinjaExpression ParseUnary(bool withFilters = true)
    {
        JinjaExpression node;
        if (Current.IsOperator("-") || Current.IsOperator("+"))
        {
            var op = Advance();
            Enter();
            var operand = ParseUnary(withFilters: false);
            _depth--;
            node = new UnaryExpression(op.Value, operand, op.Line, op.Column);
        }
        else
        {
            node = ParsePostfix(ParsePrimary());
        }
        return withFilters ? ParseFilterAndTests(node) : node;
    }

    private JinjaExpression ParsePrimary()
    {
        var token = Current;
        switch (token.Kind)
        {
            case JinjaTokenKind.Name:
                Advance();
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpression(true, token.Line, token.Column),
                    "false" or "False" => new LiteralExpression(false, token.Line, token.Column),
                    "none" or "None" => new LiteralExpression(null, token.Line, token.Column),
                    _ => new NameExpression(token.Value, token.Line, token.Column),
                };
            case JinjaTokenKind.String:
            {
                Advance();
                string value = token.Value;
                while (Current.Kind == JinjaTokenKind.String) value += Advance().Value;
                return new LiteralExpression(value, token.Line, token.Column);
            }
            case JinjaTokenKind.Integer:
                Advance();
                return new LiteralExpression(long.Parse(token.Value, CultureInfo.InvariantCulture), token.Line, token.Column);
            case JinjaTokenKind.Float:
                Advance();
                return new LiteralExpression(double.Parse(token.Value, CultureInfo.InvariantCulture), token.Line, token.Column);
            case JinjaTokenKind.Operator when token.Value == "(":
            {
                Advance();
                if (Current.IsOperator(")"))
                {
                    Advance();
                    return new ListExpression(Array.Empty<JinjaExpression>(), true, token.Line, token.Column);
                }
                var first = ParseExpression();
                if (Current.IsOperator(")"))
                {
                    Advance();
                    return first;
                }
                var items = new List<JinjaExpression> { first };
                while (Current.IsOperator(","))
                {
                    Advance();
                    if (Current.IsOperator(")")) break;
                    items.Add(ParseExpression());
                }
                ExpectOperator(")");
                return new ListExpression(items, true, token.Line, token.Column);
            }
            case JinjaTokenKind.Operator when token.Value == "[":
            {
                Advance();
                var items = new List<JinjaExpression>();
                while (!Current.IsOperator("]"))
                {
                    if (items.Count > 0) ExpectOperator(",");
                    if (Current.IsOperator("]")) break;
                    items.Add(ParseExpression());
                }
                Advance();
                return new ListExpression(items, false, token.Line, token.Column);
            }
            case JinjaTokenKind.Operator when token.Value == "{":
            {
                Advance();
                var items = new List<(JinjaExpression, JinjaExpression)>();
                while (!Current.IsOperator("}"))
                {
                    if (items.Count > 0) ExpectOperator(",");
                    if (Current.IsOperator("}")) break;
                    var key = ParseExpression();
                    ExpectOperator(":");
                    items.Add((key, ParseExpression()));
                }
                Advance();
                return new DictExpression(items, token.Line, token.Column);
            }
            default:
                throw Error($"unexpected {token} where an expression was expected", token);
        }
    }

    private JinjaExpression ParsePostfix(JinjaExpression expr)
    {
        while (true)
        {
            var token = Current;
            if (token.IsOperator("."))
            {
                Advance();
                var name = Current;
                if (name.Kind == JinjaTokenKind.Name) expr = new AttributeExpression(expr, Advance().Value, token.Line, token.Column);
                else if (name.Kind == JinjaTokenKind.Integer)
                    expr = new ItemExpression(expr, new LiteralExpression(long.Parse(Advance().Value, CultureInfo.InvariantCulture), name.Line, name.Column), token.Line, token.Column);
                else throw Error($"expected an attribute name after '.' but found {name}", name);
            }
            else if (token.IsOperator("["))
            {
                Advance();
                expr = ParseSubscript(expr, token);
            }
            else if (token.IsOperator("("))
            {
                expr = new CallExpression(expr, ParseArguments(), token.Line, token.Column);
            }
            else
            {
                return expr;
            }
        }
    }

    private JinjaExpression ParseSubscript(JinjaExpression target, JinjaToken open)
    {
        JinjaExpression? start = null, stop = null, step = null;
        if (!Current.IsOperator(":"))
        {
            start = ParseExpression();
            if (Current.IsOperator("]"))
            {
                Advance();
                return new ItemExpression(target, start, open.Line, open.Column);
            }
        }
        ExpectOperator(":");
        if (!Current.IsOperator("]") && !Current.IsOperator(":")) stop = ParseExpression();
        if (Current.IsOperator(":"))
        {
            Advance();
            if (!Current.IsOperator("]")) step = ParseExpression();
        }
        ExpectOperator("]");
        return new SliceExpression(target, start, stop, step, open.Line, open.Column);
    }

    private JinjaArguments ParseArguments()
    {
        ExpectOperator("(");
        var positional = new List<JinjaExpression>();
        var keywords = new List<(string, JinjaExpression)>();
        while (!Current.IsOperator(")"))
        {
            if (positional.Count + keywords.Count > 0) ExpectOperator(",");
            if (Current.IsOperator(")")) break;
            if (Current.Kind == JinjaTokenKind.Name && Peek().IsOperator("="))
            {
                string name = Advance().Value;
                Advance();
                keywords.Add((name, ParseExpression()));
            }
            else
            {
                if (keywords.Count > 0) throw Error("a positional argument follows a keyword argument", Current);
                positional.Add(ParseExpression());
            }
        }
        Advance();
        return new JinjaArguments(positional, keywords);
    }

    private JinjaExpression ParseFilterAndTests(JinjaExpression expr)
    {
        while (true)
        {
            var token = Current;
            if (token.IsOperator("|"))
            {
                Advance();
                string name = ParseDottedName();
                var args = Current.IsOperator("(") ? ParseArguments() : JinjaArguments.None;
                expr = new FilterExpression(expr, name, args, token.Line, token.Column);
            }
            else if (token.IsName("is"))
            {
                Advance();
                bool negated = false;
                if (Current.IsName("not"))
                {
                    Advance();
                    negated = true;
                }
                string name = ParseDottedName();
                JinjaArguments args;
                if (Current.IsOperator("(")) args = ParseArguments();
                else if (StartsTestArgument(Current)) args = new JinjaArguments(new[] { ParsePostfix(ParsePrimary()) }, Array.Empty<(string, JinjaExpression)>());
                else args = JinjaArguments.None;
                expr = new TestExpression(expr, name, args, negated, token.Line, token.Column);
            }
            else
            {
                return expr;
            }
        }
    }

    private static bool StartsTestArgument(JinjaToken t) => t.Kind switch
    {
        JinjaTokenKind.String or JinjaTokenKind.Integer or JinjaTokenKind.Float => true,
        JinjaTokenKind.Name => t.Value is not ("else" or "or" or "and" or "if" or "in" or "not" or "is"),
        JinjaTokenKind.Operator => t.Value is "[" or "{",
        _ => false,
    };

    private string ParseDottedName()
    {
        string name = ExpectName();
        while (Current.IsOperator(".") && Peek().Kind == JinjaTokenKind.Name)
        {
            Advance();
            name += "." + Advance().Value;
        }
        return name;
    }
}
