using System.Globalization;

namespace CompactAI.Tokenization.PreTokenizers;

/// <summary>
/// The Unicode properties llama.cpp's pre-tokenizers test (its <c>unicode_cpt_flags</c>): one general-category group
/// per code point plus the White_Space property. <see cref="None"/> (no bit set) stands for "outside the text".
/// </summary>
[Flags]
internal enum CodepointFlags : ushort
{
    /// <summary>Outside the piece being split.</summary>
    None = 0,
    /// <summary>Unassigned (Cn).</summary>
    Undefined = 0x0001,
    /// <summary><c>\p{N}</c>: Nd, Nl, No.</summary>
    Number = 0x0002,
    /// <summary><c>\p{L}</c>: Lu, Ll, Lt, Lm, Lo.</summary>
    Letter = 0x0004,
    /// <summary><c>\p{Z}</c>: Zs, Zl, Zp.</summary>
    Separator = 0x0008,
    /// <summary><c>\p{M}</c>: Mn, Mc, Me.</summary>
    Mark = 0x0010,
    /// <summary><c>\p{P}</c>: Pc, Pd, Ps, Pe, Pi, Pf, Po.</summary>
    Punctuation = 0x0020,
    /// <summary><c>\p{S}</c>: Sm, Sc, Sk, So.</summary>
    Symbol = 0x0040,
    /// <summary><c>\p{C}</c> other than Cn: Cc, Cf, Cs, Co.</summary>
    Control = 0x0080,
    /// <summary>The category bits.</summary>
    Categories = 0x00FF,
    /// <summary>Unicode White_Space (<c>\s</c>): U+0009–000D, U+0020, U+0085, U+00A0, U+1680, U+2000–200A, U+2028, U+2029, U+202F, U+205F, U+3000.</summary>
    Whitespace = 0x0100,
}

/// <summary>Computes <see cref="CodepointFlags"/> from .NET's Unicode tables.</summary>
internal static class Codepoints
{
    private static readonly CodepointFlags[] Ascii = BuildAscii();

    /// <summary>The flags of code point <paramref name="cp"/> (a valid scalar value).</summary>
    public static CodepointFlags Flags(int cp)
    {
        if (cp < 128) return Ascii[cp];
        var category = cp > 0x10FFFF ? UnicodeCategory.OtherNotAssigned : CharUnicodeInfo.GetUnicodeCategory(cp);
        var flags = category switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CodepointFlags.Letter,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => CodepointFlags.Mark,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CodepointFlags.Number,
            UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => CodepointFlags.Separator,
            UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CodepointFlags.Punctuation,
            UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                or UnicodeCategory.OtherSymbol => CodepointFlags.Symbol,
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse => CodepointFlags.Control,
            _ => CodepointFlags.Undefined,
        };
        // char.IsWhiteSpace is exactly Unicode White_Space; every such code point is in the BMP.
        if (cp <= 0xFFFF && char.IsWhiteSpace((char)cp)) flags |= CodepointFlags.Whitespace;
        return flags;
    }

    private static CodepointFlags[] BuildAscii()
    {
        var table = new CodepointFlags[128];
        for (int c = 0; c < 128; c++)
        {
            var flags = CharUnicodeInfo.GetUnicodeCategory(c) switch
            {
                UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter => CodepointFlags.Letter,
                UnicodeCategory.DecimalDigitNumber => CodepointFlags.Number,
                UnicodeCategory.SpaceSeparator => CodepointFlags.Separator,
                UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol => CodepointFlags.Symbol,
                UnicodeCategory.Control => CodepointFlags.Control,
                _ => CodepointFlags.Punctuation,
            };
            if (char.IsWhiteSpace((char)c)) flags |= CodepointFlags.Whitespace;
            table[c] = flags;
        }
        return table;
    }
}
